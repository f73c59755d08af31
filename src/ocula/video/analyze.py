"""The video pipeline: frames → faces → tracks → identities, tags, people counts → events, report.

``analyze(source, ...)`` returns a :class:`VideoAnalysis`: iterate it for events as they happen;
its ``report`` is set when the iteration ends (also after :meth:`VideoAnalysis.stop`, which is
what the CLI calls on Ctrl-C, so the report is still written). Models run on one frame per
``every`` seconds; the tagger and the people detector on fewer (``tag_every``, ``count_every``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Settings
from ..errors import InputError
from ..face_types import Faces
from ..pipelines.faces import DEFAULT_DESCRIPTOR, Descriptor, Detector, FaceAnalyzer, FaceOptions, as_detector
from .events import Event, PersonAppeared, VideoReport
from .people import PeopleDetector
from .render import Overlay, VideoWriter, draw, redact
from .shield import FaceShield
from .source import Frame, VideoSource, open_video
from .tagging import FrameTagger
from .timeline import Appearances, PeopleCounts, TagTimeline
from .tracking import FaceTracker, ShotCuts, Track, tracking_similarities

if TYPE_CHECKING:
    from ..engine import Engine
    from ..galleries import Gallery
    from .webhook import WebhookSender

__all__ = ["CONFIRM_MARGINS", "VideoAnalysis", "VideoOptions", "analyze"]

#: SFace describes a video's faces in one pass; a face whose one-pass similarity to someone in
#: the gallery lies within its descriptor's margin of the decision threshold (either side) is
#: described with the mirror pass too, as the gallery's faces and its calibration were, and
#: decided on that (``benchmarks/video_speed.py --mirror-margin [--descriptor sface+dlib]``):
#: - SFace, 0.1: read off the Hamilton clip (126 analysed faces x 2 people: the mirror moved a
#:   similarity by 0.078 at most; 0.088 on all 754 faces of its 275 frames), checked on celeba-80
#:   (a one-pass probe against mirror templates, 556,674 ordered pairs of each half's largest
#:   faces): at most 0.077 either half (measured again 2026-12-02; 0.080 when first chosen), so
#:   at any threshold the rule decides every pair as the mirror would.
#: - The fusion (sface+dlib), both parts in one pass and both mirrored on a close call, 0.06:
#:   the mirror moves its similarity less (each part's move counts at its weight, 0.5). On
#:   celeba-80 0.042 at most (268,842 / 287,832 ordered pairs, 0.039 / 0.042); on all 754 faces
#:   of the Hamilton clip's 275 frames x 2 people, 0.044; no pair or face decided otherwise than
#:   with the mirror. 0.06 was chosen on these same data (about 1.4 times the largest move
#:   seen, as SFace's 0.1 is 1.25 times its own), so it is a floor that held there, not a bound.
#:   A margin of 0.1 sent 249 of those 754 faces to the mirror, 0.06 sends 86.
CONFIRM_MARGINS: Mapping[Descriptor, float] = MappingProxyType({Descriptor.SFACE: 0.1, Descriptor.FUSED: 0.06})


def _seconds(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise InputError(f"{name} must be a number of seconds from {low} to {high}, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class VideoOptions:
    """What to look for and how often.

    Attributes:
        every: seconds between the frames the face models see (0.2: 5 per second; a face must
            stay about 0.4 s to be decided, since a track needs two observations).
        fpir: false-positive identification rate of the watchlist decisions.
        tags: tag timeline; ``tag_every`` seconds between tagged frames; ``tag_preset``.
        count_people: people per second, the person detector run every ``count_every`` seconds;
            ``min_person_height``: the smallest person counted, as a fraction of frame height.
        linger: seconds a person may go unseen and still be in the same appearance (and a track
            still be continued).
        redact: blur every face that is not an enrolled person, in the annotated video and in
            snapshots.
        annotate: write a copy of the video with boxes, names and track ids here.
        snapshots: save a JPEG of each appearance's face (with its surroundings) in this folder
            (made, with its parents, when the analysis is opened).
        webhook: POST every event as JSON to this http(s) URL; ``webhook_allow_link_local``
            lets it be a link-local or cloud metadata address (refused otherwise; see
            :mod:`ocula.video.webhook`).
        max_seconds: stop after this much video (live sources never end by themselves).
        detector: the face detector the tracks follow: ``yunet`` (default, faces v2: finds
            turned heads too; a fixed cost per frame), ``hog`` (dlib's, frontal faces), or
            ``cnn``/``hog+cnn`` (slow). Faces are described by the watchlist gallery's
            descriptor (ocula's default descriptor without a gallery). Whatever the detector, ``redact`` also
            blurs the faces the redaction shield finds on each frame (:mod:`.shield`).
    """

    every: float = 0.2
    fpir: float = 0.01
    tags: bool = False
    tag_every: float = 1.0
    tag_preset: str = "fast"
    count_people: bool = False
    count_every: float = 0.5
    min_person_height: float = 0.5
    linger: float = 1.5
    redact: bool = False
    annotate: str | Path | None = None
    snapshots: str | Path | None = None
    webhook: str | None = None
    webhook_allow_link_local: bool = False
    max_seconds: float | None = None
    detector: Detector = Detector.YUNET

    def __post_init__(self) -> None:
        object.__setattr__(self, "detector", as_detector(self.detector))
        _seconds("every", self.every, 0.0, 60.0)
        _seconds("tag_every", self.tag_every, 0.0, 3600.0)
        _seconds("count_every", self.count_every, 0.0, 3600.0)
        _seconds("linger", self.linger, 0.0, 600.0)
        if self.max_seconds is not None:
            _seconds("max_seconds", self.max_seconds, 0.0, 1e9)
        if isinstance(self.fpir, bool) or not isinstance(self.fpir, (int, float)) or not 0 < self.fpir < 1:
            raise InputError(f"fpir must be a number between 0 and 1, not {self.fpir!r}")
        if self.annotate is not None:
            path = Path(self.annotate)
            if path.suffix.lower() not in VideoWriter.CODECS:
                raise InputError(f"{path}: the annotated video must end in one of {', '.join(VideoWriter.CODECS)}")
            if not path.parent.is_dir():
                raise InputError(f"{path.parent}: no such folder for the annotated video")
        if self.webhook is not None and not (
            isinstance(self.webhook, str) and self.webhook.startswith(("http://", "https://"))
        ):
            raise InputError(f"the webhook must be an http:// or https:// URL, not {self.webhook!r}")
        if self.webhook is not None:
            from .webhook import check_webhook_url

            check_webhook_url(self.webhook, allow_link_local=self.webhook_allow_link_local)
        if self.snapshots is not None and Path(self.snapshots).exists() and not Path(self.snapshots).is_dir():
            raise InputError(f"{self.snapshots}: not a folder, cannot hold snapshots")


@dataclass
class _Pass:
    """The state of one pass over a source: its models, trackers and timelines, when the tags and
    people are next measured, and what the frames up to the next analysed one are drawn with."""

    analyzer: FaceAnalyzer
    face_options: FaceOptions
    threshold: float | None
    tracker: FaceTracker
    cuts: ShotCuts
    appearances: Appearances
    tagger: FrameTagger | None
    tags: TagTimeline
    people: PeopleDetector | None
    counts: PeopleCounts
    shield: FaceShield | None
    next_tag: float = 0.0
    next_count: float = 0.0
    overlay: Overlay = field(default_factory=Overlay.empty)
    #: The redaction shield's faces on the current frame, and shot cuts between written frames.
    shielded: np.ndarray | None = None
    frame_cuts: ShotCuts = field(default_factory=ShotCuts)
    #: A cut since the last analysed frame: its named tracks' boxes may hold somebody else now.
    names_stale: bool = False

    def redacted_overlay(self) -> Overlay:
        """The overlay redaction blurs by: the last analysed frame's, with no named person
        exempt after a shot cut since then."""
        return self.overlay.unnamed() if self.names_stale else self.overlay


class VideoAnalysis:
    """One run over one source. Iterate for :class:`~ocula.video.events.Event` objects; then
    ``report`` holds the :class:`VideoReport`. Use :meth:`run` to skip the events."""

    def __init__(
        self,
        source: VideoSource,
        options: VideoOptions,
        *,
        engine: Engine,
        gallery: Gallery | None = None,
        owned: tuple[Any, ...] = (),
        started: float | None = None,
    ):
        """``started``: when start-up began on the ``time.perf_counter`` clock (the report's
        ``realtime_factor`` counts from it; default: now)."""
        self.source = source
        self.options = options
        self.report: VideoReport | None = None
        self._engine = engine
        self._gallery = gallery
        self._owned = owned
        self._stop = threading.Event()
        self._started = False
        self._start_time = time.perf_counter() if started is None else started
        self._loading: threading.Thread | None = None  # the descriptor's models, loading (see _new_pass)
        #: Called with each frame read (progress bars); must be quick.
        self.on_frame: Callable[[Frame], None] | None = None

    def stop(self) -> None:
        """Ask the run to end after the current frame (thread- and signal-safe). The iteration
        then yields the closing events and sets ``report``."""
        self._stop.set()

    def run(self) -> VideoReport:
        for _ in self:
            pass
        assert self.report is not None
        return self.report

    def __iter__(self) -> Iterator[Event]:
        if self._started:
            raise RuntimeError("a VideoAnalysis runs once")
        self._started = True
        return self._events()

    # -- the pipeline -------------------------------------------------------------------------
    def _tracker(self, descriptor: Descriptor) -> FaceTracker:
        """dlib's descriptors keep the tracker's measured similarities; another descriptor's
        are read off its calibration at the same false-match rates."""
        if descriptor is Descriptor.DLIB:
            return FaceTracker(timeout=self.options.linger)
        near, far = tracking_similarities(self._engine.calibration(descriptor))
        return FaceTracker(timeout=self.options.linger, near=near, far=far)

    def _new_pass(self) -> _Pass:
        """The models, trackers and timelines of one pass over the source."""
        opts = self.options
        descriptor = self._gallery.descriptor if self._gallery is not None else DEFAULT_DESCRIPTOR
        # Faces are found and measured by the analyzer, described by _describe where their
        # tracks need it; SFace's chips (alone or in the fusion) are cut from YuNet's landmarks,
        # so with SFace and dlib's detectors the analyzer describes every face.
        lazy = descriptor is Descriptor.DLIB or opts.detector is Detector.YUNET
        analyzer = self._engine.face_analyzer(opts.detector, descriptor=descriptor)
        # YuNet searches a frame padded only to a multiple of 32 and a margin, not to its 640
        # square: a 16:9 frame has 70% of its pixels, and the same faces on the clips measured
        # (pipelines.yunet.EDGE_MARGIN).
        face_options = FaceOptions(detector=opts.detector, descriptor=descriptor, embed=not lazy, square=False)
        threshold = self._gallery.threshold(opts.fpir).threshold if self._gallery is not None else None
        run = _Pass(
            analyzer=analyzer,
            face_options=face_options,
            threshold=threshold,
            tracker=self._tracker(descriptor),
            cuts=ShotCuts(),
            appearances=Appearances(opts.linger, threshold),
            tagger=FrameTagger(self._engine.tagger(opts.tag_preset)) if opts.tags else None,
            tags=TagTimeline(),
            people=PeopleDetector(opts.min_person_height) if opts.count_people else None,
            counts=PeopleCounts(),
            # Redaction's own search for faces, when something redacted is written.
            shield=self._shield() if opts.redact and (opts.annotate or opts.snapshots is not None) else None,
        )
        # The descriptor's models load on a thread while the first frames are read and searched,
        # not when the first face is described (0.3-0.4 s for the fusion's three). Started last:
        # it holds the engine's model lock while it loads, which the models above also take.
        self._loading = threading.Thread(target=self._load_descriptor, args=(descriptor,), daemon=True)
        self._loading.start()
        return run

    def _load_descriptor(self, descriptor: Descriptor) -> None:
        try:
            self._engine.load_descriptor(descriptor)
        except Exception:  # noqa: BLE001 - the same error meets the first face described, on the caller's thread
            pass

    def _events(self) -> Iterator[Event]:
        opts = self.options
        report = VideoReport(self.source.name)
        run = self._new_pass()
        writer = webhook = None
        first_frame_at: float | None = None
        last_t = 0.0
        completed = False
        try:
            if opts.annotate:
                writer = VideoWriter(opts.annotate, self.source.fps, self.source.size)
            if opts.webhook:
                from .webhook import WebhookSender

                webhook = WebhookSender(opts.webhook, allow_link_local=opts.webhook_allow_link_local)
            for frame in self.source.frames(opts.every, decode_all=writer is not None):
                if self._stop.is_set() or (opts.max_seconds is not None and frame.t > opts.max_seconds):
                    report.stopped = self._stop.is_set()
                    break
                report.frames += 1
                last_t = frame.t
                if first_frame_at is None:
                    first_frame_at = time.perf_counter()
                if run.shield is not None and frame.rgb is not None:
                    self._shield_frame(run, frame)
                if self.on_frame is not None:
                    self.on_frame(frame)
                pending = self._analyse(run, frame, report) if frame.analyse else []
                if writer is not None:
                    assert frame.rgb is not None
                    image = redact(frame.rgb, run.redacted_overlay(), run.shielded) if opts.redact else frame.rgb
                    writer.write(draw(image, run.overlay))
                yield from self._flush(pending, webhook)
            else:
                report.stopped = self._stop.is_set()
                report.truncated = self.source.truncated
            # The end of the source (or a stop): close every open track, appearance and tag.
            yield from self._flush(self._finish_pass(run, last_t), webhook)
            completed = True
        finally:
            if not completed:  # an exception, KeyboardInterrupt, or the caller closed the iteration
                report.stopped = True
            unwritten = self._close_outputs(report, writer, webhook)
            self._close_report(report, run, first_frame_at, last_t)  # closes the source and the models
            # Raised only after everything is closed and the report is set (``report``), and only
            # when no other exception is on its way (that one says more: an interrupt, an error).
            if unwritten is not None and completed:
                raise unwritten

    def _close_outputs(
        self, report: VideoReport, writer: VideoWriter | None, webhook: WebhookSender | None
    ) -> InputError | None:
        """Finish the annotated copy and the webhook's queue, noted in ``report``; the error of a
        copy that could not be moved into place (its folder gone), returned, not raised, so that
        everything else is still closed."""
        unwritten = None
        if writer is not None:
            try:
                writer.close()
                report.annotated = str(self.options.annotate)
            except InputError as exc:
                unwritten = exc
        if webhook is not None:
            report.webhook = webhook.close().to_dict()
        return unwritten

    @staticmethod
    def _shield_frame(run: _Pass, frame: Frame) -> None:
        """The faces to blur on this very frame. Every written frame is searched, not only the
        analysed ones: between two of those a face moves, enters the shot, or a cut brings a
        new shot whose faces the last analysed frame's boxes do not cover (the frames after a
        cut of the Hamilton clip kept recognisable faces when only analysed frames were
        searched). After such a cut a named track's box may hold somebody else, so until the
        next analysed frame no face is exempt as a named person's."""
        assert run.shield is not None and frame.rgb is not None
        run.shielded = run.shield.boxes(frame.rgb)
        cut = run.frame_cuts.cut(frame.rgb)
        if frame.analyse:
            run.names_stale = False
        elif cut:
            run.names_stale = True

    def _analyse(self, run: _Pass, frame: Frame, report: VideoReport) -> list[Event]:
        """Find, describe and track the faces of an analysed frame; the events it brings, in order."""
        assert frame.rgb is not None
        opts = self.options
        report.analysed_frames += 1
        faces = run.analyzer.analyze(frame.rgb, run.face_options)
        cut = run.cuts.cut(frame.rgb)
        if run.face_options.embed:  # every face described, as a photo's are
            reused, similarities = None, self._similarities(faces)
        else:
            reused = [None] * len(faces) if cut else run.tracker.reusable(frame.t, faces.boxes)
            faces, similarities = self._describe(run.analyzer, frame.rgb, faces, reused, run.threshold)
        seen, ended = run.tracker.update(frame.t, faces, similarities, run.threshold, reused, cut=cut)
        for track in seen:
            track.decide(run.threshold)
        pending = run.appearances.ended(ended)
        appeared = run.appearances.seen(seen)
        pending += run.appearances.tick(frame.t)
        if run.tagger is not None and frame.t + 1e-6 >= run.next_tag:
            run.next_tag = frame.t + opts.tag_every
            pending += run.tags.update(frame.t, *run.tagger.scores(frame.rgb))
        bodies = None
        if run.people is not None and frame.t + 1e-6 >= run.next_count:
            run.next_count = frame.t + opts.count_every
            bodies = run.people.detect(frame.rgb)
            n_bodies, n_faces = run.people.count_with(bodies, faces.boxes)
            pending += run.counts.update(frame.t, n_bodies, n_faces)
        run.overlay = self._overlay(seen, run.tracker.tracks, bodies)
        if opts.snapshots is not None:
            appeared = [self._snapshot(e, frame, run.redacted_overlay(), run.shielded) for e in appeared]
        return pending + appeared

    def _finish_pass(self, run: _Pass, last_t: float) -> list[Event]:
        """The events that close every open track, appearance, tag and count."""
        pending = run.appearances.ended(run.tracker.finish())
        pending += run.appearances.finish()
        pending += run.tags.finish(end=last_t + self._frame_seconds())  # the last frame lasts too
        pending += run.counts.finish()
        return pending

    def _close_report(self, report: VideoReport, run: _Pass, first_frame_at: float | None, last_t: float) -> None:
        ended_at = time.perf_counter()
        elapsed = ended_at - self._start_time  # start-up included
        report.startup = (first_frame_at if first_frame_at is not None else ended_at) - self._start_time
        report.duration = last_t + (1 / self.source.fps if self.source.fps and report.frames else 0.0)
        report.realtime_factor = report.duration / elapsed if elapsed > 0 else 0.0
        report.people = run.appearances.people
        report.unknown_tracks = run.appearances.unknown_tracks
        report.tags = run.tags.tags
        report.counts = run.counts.counts
        self.report = report
        self.close()

    def _frame_seconds(self) -> float:
        """How long one frame of the source lasts (1/30 s when its rate is unknown, as the
        reader then assumes)."""
        return 1 / self.source.fps if self.source.fps else 1 / 30

    def _flush(self, pending: list[Event], webhook: Any) -> Iterator[Event]:
        """Stamp the pending events with the source and the wall-clock time, post them, yield them."""
        while pending:
            # One stamp for both: the webhook's copy and the caller's (the CLI's JSON line) agree.
            event = dataclasses.replace(pending.pop(0), source=self.source.name, time=time.time())
            if webhook is not None:
                webhook.send(event.to_dict())
            yield event

    def _describe(
        self,
        analyzer: FaceAnalyzer,
        rgb: np.ndarray,
        faces: Faces,
        reused: list[Track | None],
        threshold: float | None,
    ) -> tuple[Faces, list[dict[str, float]]]:
        """``faces`` with descriptors, and their gallery similarities: a face that reuses a
        track's description (``reused``) gets the track's; the others are described."""
        todo = [i for i, tr in enumerate(reused) if tr is None]
        embeddings = np.zeros((len(faces), analyzer.embedding_dim), np.float32)
        similarities: list[dict[str, float]] = [{} for _ in range(len(faces))]
        for i, tr in enumerate(reused):
            if tr is not None:
                embeddings[i] = tr.embedding
                similarities[i] = tr.similarities
        if todo:
            new = faces[todo]
            embeddings[todo], found = self._embed(analyzer, rgb, new, threshold)
            for i, s in zip(todo, found, strict=False):
                similarities[i] = s
        described = dataclasses.replace(faces, embeddings=embeddings, descriptor=analyzer.descriptor_model)
        return described, similarities

    def _embed(
        self, analyzer: FaceAnalyzer, rgb: np.ndarray, faces: Faces, threshold: float | None
    ) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Descriptors of ``faces`` and their gallery similarities. SFace (alone, or with dlib
        in the fusion) describes each face in one pass; the mirror pass (the gallery's
        descriptors and calibration are mirror means) runs only for the faces whose similarity
        lies within ``CONFIRM_MARGINS`` of the threshold, and theirs is then the mirror mean's: a
        close call is decided on the calibrated descriptor. dlib alone describes each face fully."""
        if analyzer.sface is None:
            embeddings = analyzer.descriptors(rgb, faces)
            return embeddings, self._similarities(
                dataclasses.replace(faces, embeddings=embeddings, descriptor=analyzer.descriptor_model)
            )
        chips = analyzer.chips(rgb, faces)
        dlib_chips = analyzer.dlib_chips(rgb, faces.boxes) if analyzer.fusion is not None else None
        single = analyzer.sface.embed(chips, flip=False)
        dlib_single = None if dlib_chips is None else analyzer.dlib_embed(dlib_chips, flip=False)
        embeddings = single if dlib_single is None else analyzer.fuse(single, dlib_single)
        similarities = self._similarities(
            dataclasses.replace(faces, embeddings=embeddings, descriptor=analyzer.descriptor_model)
        )
        if not analyzer.sface.flip or threshold is None:  # no gallery: nobody to name
            return embeddings, similarities
        margin = CONFIRM_MARGINS[analyzer.descriptor]
        near = [i for i, s in enumerate(similarities) if any(abs(v - threshold) < margin for v in s.values())]
        if near:
            mirrored = analyzer.sface.mirrored(single[near], chips[near])
            if dlib_chips is not None and dlib_single is not None:  # dlib's mirror pass too
                mirrored = analyzer.fuse(mirrored, analyzer.dlib_mirrored(dlib_single[near], dlib_chips[near]))
            embeddings[near] = mirrored
            again = self._similarities(
                dataclasses.replace(faces[near], embeddings=embeddings[near], descriptor=analyzer.descriptor_model)
            )
            for i, s in zip(near, again, strict=False):
                similarities[i] = s
        return embeddings, similarities

    def _similarities(self, faces: Faces) -> list[dict[str, float]]:
        if self._gallery is None or len(faces) == 0 or len(self._gallery) == 0:
            return [{} for _ in range(len(faces))]
        found = self._gallery.identify_faces(faces, fpir=self.options.fpir, k=3)
        return [{c.person: c.similarity for c in ident.candidates} for ident in found]

    @staticmethod
    def _overlay(seen: list[Track], live: list[Track], bodies: np.ndarray | None) -> Overlay:
        """Faces on this frame, plus the last box of live tracks missed on it: redaction keeps
        blurring a face the detector lost for a moment."""
        lost = [tr for tr in live if all(tr is not s for s in seen)]
        shown = seen + lost
        boxes = np.stack([tr.box for tr in shown]) if shown else np.zeros((0, 4), np.float32)
        labels = tuple(f"{tr.person} #{tr.id}" if tr.person else f"#{tr.id}" for tr in shown)
        drawn = (True,) * len(seen) + (False,) * len(lost)
        return Overlay(boxes, labels, tuple(tr.person is not None for tr in shown), bodies, drawn)

    def _shield(self) -> FaceShield:
        from ..pipelines.yunet import YuNetDetector

        detector = self._engine.face_detector("yunet")
        assert isinstance(detector, YuNetDetector)
        return FaceShield(detector)

    def _snapshot(
        self, event: PersonAppeared, frame: Frame, overlay: Overlay, shielded: np.ndarray | None
    ) -> PersonAppeared:
        import cv2

        assert frame.rgb is not None and event.box is not None and self.options.snapshots is not None
        image = redact(frame.rgb, overlay, shielded) if self.options.redact else frame.rgb
        h, w = image.shape[:2]
        x0, y0, x1, y1 = event.box
        mx, my = (x1 - x0) * 0.6, (y1 - y0) * 0.6
        crop = image[max(0, int(y0 - my)) : min(h, int(y1 + my)), max(0, int(x0 - mx)) : min(w, int(x1 + mx))]
        path = Path(self.options.snapshots) / f"track{event.track:05d}-{frame.t:09.3f}s.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        return dataclasses.replace(event, snapshot=str(path))

    def close(self) -> None:
        self.source.close()
        try:
            if self._loading is not None:  # before the engine it loads into may be closed
                self._loading.join()
                self._loading = None
        finally:  # a second Ctrl-C during the wait still closes what the run owns
            for thing in self._owned:
                thing.close()
            self._owned = ()

    def __enter__(self) -> VideoAnalysis:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def analyze(
    source: str | int | Path,
    *,
    gallery: Gallery | None = None,
    engine: Engine | None = None,
    settings: Settings | None = None,
    name: str | None = None,
    started: float | None = None,
    **options: Any,
) -> VideoAnalysis:
    """Analyse a video file, stream URL or camera index.

    ``gallery`` (a name or an open :class:`~ocula.Gallery`) turns on the watchlist; the options
    are those of :class:`VideoOptions`. ``name``: the source's name in events and the report
    (default: the source as given, a URL without credentials or secret query values; the
    service passes the upload's name, not its path on the server). Opening is checked now: a
    missing or undecodable source, an unknown gallery or a bad option raises before any frame
    is read. ``started``: when start-up began, on the ``time.perf_counter`` clock (the CLI passes
    its process's start); the report's ``realtime_factor`` counts from it (default: this call,
    so opening the source and loading the models count)::

        run = ocula.video.analyze("clip.mp4", gallery="staff", tags=True)
        for event in run:
            print(event.to_dict())
        print(run.report.people)
    """
    from ..engine import Engine
    from ..galleries import Gallery

    started = time.perf_counter() if started is None else started
    opts = VideoOptions(**options)
    owned: list[Any] = []
    if engine is None:
        engine = Engine(settings)
        owned.append(engine)
    settings = settings or engine.settings  # an engine may serve several data dirs (the service's tests)
    try:
        if isinstance(gallery, str):
            gallery = Gallery.open(gallery, settings=settings, engine=engine)
            owned.append(gallery)
        if opts.snapshots is not None:
            _make_folder(Path(opts.snapshots))
        if opts.annotate is not None:
            _refuse_overwriting_the_source(source, Path(opts.annotate))
        video = open_video(source, max_pixels=settings.max_image_pixels)
        if name is not None:
            video.name = name
    except BaseException:
        for thing in reversed(owned):
            thing.close()
        raise
    return VideoAnalysis(video, opts, engine=engine, gallery=gallery, owned=tuple(reversed(owned)), started=started)


def _refuse_overwriting_the_source(source: str | int | Path, annotate: Path) -> None:
    """An InputError when the annotated copy would replace the video it is made from (the same
    file by another name or link too): the copy would end the source."""
    if isinstance(source, bool) or not isinstance(source, (str, Path)):
        return
    try:
        same = annotate.exists() and Path(source).is_file() and annotate.samefile(source)
    except OSError:
        return
    if same:
        raise InputError(f"{annotate}: that is the video being analysed; write the annotated copy to another file")


def _make_folder(path: Path) -> None:
    """Create the snapshot folder as ``faces detect --annotate`` creates its own; a clear
    InputError when it cannot be (a file in the way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {path} for snapshots ({exc.strerror or exc})") from None
