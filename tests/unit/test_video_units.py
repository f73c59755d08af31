"""Video layers without models: tracking, appearances (one alert per appearance), tag smoothing,
people counts, event schema, options, redaction pixels, the bounded frame queue."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from ocula import InputError, Settings, VideoError
from ocula.face_types import Faces
from ocula.video import PersonAppeared, PersonLeft, TagEnded, TagStarted, VideoOptions, VideoReport, analyze
from ocula.video.people import PeopleDetector, _merge
from ocula.video.render import Overlay, VideoWriter, redact
from ocula.video.source import Frame, VideoSource, _Reader, display_name, open_video
from ocula.video.timeline import Appearances, PeopleCounts, TagTimeline
from ocula.video.tracking import FaceTracker, box_iou

RNG = np.random.default_rng(7)
PEOPLE = {name: RNG.normal(0, 0.09, 128).astype(np.float32) for name in ("ann", "bob", "cid")}


def faces(*items: tuple[str, tuple[float, float, float, float]], noise: float = 0.005) -> Faces:
    """Faces of the named identities at the given boxes (descriptors near each identity's)."""
    n = len(items)
    emb = np.stack([PEOPLE[p] + RNG.normal(0, noise, 128).astype(np.float32) for p, _ in items]) if n else None
    return Faces(
        boxes=np.array([b for _, b in items], np.float32).reshape(n, 4),
        scores=np.ones(n, np.float32),
        landmarks=np.zeros((n, 5, 2), np.float32),
        size=np.full(n, 40, np.float32),
        sharpness=np.full(n, 0.01, np.float32),
        frontal=np.ones(n, np.float32),
        embeddings=emb if n else np.zeros((0, 128), np.float32),
        image_size=(640, 360),
    )


def sims(f: Faces, gallery=("ann",)) -> list[dict[str, float]]:
    from ocula.pipelines.faces import similarity

    return [{p: float(similarity(e, PEOPLE[p])) for p in gallery} for e in f.embeddings]


BOX_A, BOX_B = (100, 100, 160, 160), (400, 100, 460, 160)


def test_box_iou():
    assert box_iou(np.array([0, 0, 10, 10]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])).tolist() == [
        [1.0, pytest.approx(1 / 3), 0.0]
    ]


def test_tracker_keeps_identity_by_overlap_and_descriptor():
    tr = FaceTracker(timeout=1.0)
    s1, _ = tr.update(0.0, faces(("ann", BOX_A), ("bob", BOX_B)), [{}, {}])
    s2, _ = tr.update(0.2, faces(("bob", BOX_B), ("ann", (105, 102, 165, 162))), [{}, {}])
    assert [t.id for t in s2] == [s1[1].id, s1[0].id]
    # A different face where ann's box was (a shot cut) starts a new track.
    s3, _ = tr.update(0.4, faces(("cid", BOX_A)), [{}])
    assert s3[0].id not in {s1[0].id, s1[1].id}
    # Unseen for longer than the timeout: the tracks end.
    s4, ended = tr.update(2.0, faces(("ann", BOX_A)), [{}])
    assert {t.id for t in ended} == {s1[0].id, s1[1].id, s3[0].id}
    assert s4[0].id not in {s1[0].id, s3[0].id}


def test_a_named_track_is_not_continued_onto_someone_else():
    tr = FaceTracker(timeout=1.0)
    for t in (0.0, 0.2):
        f = faces(("ann", BOX_A))
        (track,), _ = tr.update(t, f, sims(f), threshold=0.8)
        track.decide(0.8)
    assert track.person == "ann"
    f = faces(("bob", BOX_A))
    tr.tracks[0].embedding = f.embeddings[0].copy()  # even a look-alike descriptor on the track
    (other,), _ = tr.update(0.4, f, sims(f), threshold=0.8)
    assert other.id != track.id and other.person is None


def test_identity_needs_two_observations_and_the_median():
    tr = FaceTracker()
    f = faces(("ann", BOX_A))
    (track,), _ = tr.update(0.0, f, [{"ann": 0.95}])
    track.decide(0.8)
    assert not track.decided and track.person is None  # one frame decides nothing
    tr.update(0.2, f, [{"ann": 0.5}])
    track.decide(0.8)
    assert track.decided and track.person is None  # median of 0.95 and 0.5 is below 0.8
    tr.update(0.4, f, [{"ann": 0.9}])
    track.decide(0.8)
    assert track.person == "ann" and track.similarity == pytest.approx(0.9)


def _track_seen(tracker, app, t, who, box=BOX_A):
    f = faces((who, box))
    seen, ended = tracker.update(t, f, sims(f, ("ann", "bob")), threshold=0.8)
    for s in seen:
        s.decide(0.8)
    return app.ended(ended) + app.seen(seen) + app.tick(t)


def test_one_alert_per_appearance_across_track_breaks():
    tracker, app = FaceTracker(timeout=0.5), Appearances(linger=1.5, threshold=0.8)
    events = []
    for t in np.arange(0, 3, 0.2):  # ann, seen steadily
        events += _track_seen(tracker, app, float(t), "ann")
    # a 1 s gap (turned away), then ann again somewhere else: a new track, the same appearance
    for t in np.arange(4.0, 5.0, 0.2):
        events += _track_seen(tracker, app, float(t), "ann", BOX_B)
    for t in np.arange(8.0, 9.0, 0.2):  # a 3 s gap: a second appearance
        events += _track_seen(tracker, app, float(t), "ann")
    events += app.finish()
    appeared = [e for e in events if isinstance(e, PersonAppeared)]
    left = [e for e in events if isinstance(e, PersonLeft)]
    assert [e.person for e in appeared] == ["ann", "ann"]
    assert [e.person for e in left] == ["ann", "ann"]
    assert app.people["ann"] == [[0.0, pytest.approx(4.8)], [8.0, pytest.approx(8.8)]]


def test_unknown_faces_get_anonymous_tracks_and_are_counted():
    tracker, app = FaceTracker(timeout=0.5), Appearances(linger=1.0, threshold=0.8)
    events = []
    for t in (0.0, 0.2, 0.4):
        events += _track_seen(tracker, app, t, "cid")
    events += app.ended(tracker.finish()) + app.finish()
    assert [(type(e).__name__, e.person) for e in events] == [("PersonAppeared", None), ("PersonLeft", None)]
    assert app.unknown_tracks == 1 and app.people == {}


def test_tag_timeline_smooths_single_frames():
    tl = TagTimeline(start=0.4, stop=0.2, alpha=0.5)
    seq = [0.9, 0.9, 0.0, 0.9, 0.9, 0.0, 0.0, 0.0, 0.0]  # one dropped frame inside
    events = []
    for i, s in enumerate(seq):
        events += tl.update(float(i), {"cat": s} if s else {}, {"cat": ("feline",)})
    events += tl.finish()
    assert [type(e) for e in events] == [TagStarted, TagEnded]
    assert events[0].ancestors == ("feline",)
    assert tl.tags == {"cat": [[0.0, 5.0]]}  # ends at the frame after the last one that showed a cat
    tl2 = TagTimeline()
    assert tl2.update(0.0, {"dog": 0.3}, {}) == [] and tl2.finish() == []  # one weak frame: nothing


def test_a_tag_seen_on_one_sampled_frame_lasts_until_the_next_one():
    """A sampled frame stands for the video up to the next sampled frame: one frame showing a
    tag gives an interval of one step, never [t, t] (the "necktie": [[6.006, 6.006]] of issue 16)."""
    tl = TagTimeline(start=0.4, stop=0.2, alpha=0.5)
    events = []
    for t, s in ((0.0, 0.0), (0.6, 0.95), (1.2, 0.0), (1.8, 0.0), (2.4, 0.0)):
        events += tl.update(t, {"tie": s} if s else {}, {})
    assert tl.tags == {"tie": [[0.6, 1.2]]}
    assert [(type(e), e.t) for e in events] == [(TagStarted, 0.6), (TagEnded, 1.2)]
    # Still showing on the last sampled frame: the interval runs to the end of the video.
    tl = TagTimeline(start=0.4, stop=0.2, alpha=0.5)
    tl.update(3.0, {"tie": 0.95}, {})
    assert [e.t for e in tl.finish(end=3.1)] == [3.1] and tl.tags == {"tie": [[3.0, 3.1]]}


def test_a_snapshot_folder_is_made_but_a_file_in_the_way_is_refused(tmp_path):
    """Like ``faces detect --annotate``: a missing folder is no error (analyze makes it); a file
    where the folder should be is."""
    VideoOptions(snapshots=tmp_path / "not" / "yet")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        VideoOptions(snapshots=tmp_path / "file")
    with pytest.raises(InputError, match="cannot create"):
        below_a_file = tmp_path / "file" / "below"
        analyze(tmp_path / "missing.mp4", engine=object(), settings=Settings(data_dir=tmp_path), snapshots=below_a_file)


def test_people_counts_per_second_take_the_most_seen():
    pc = PeopleCounts()
    events = pc.update(0.0, 1, 0) + pc.update(0.5, 2, 1) + pc.update(1.2, 0, 0) + pc.finish()
    assert [e.to_dict() for e in events] == [
        {"type": "count", "t": 0.0, "people": 3, "bodies": 2, "faces": 1},
        {"type": "count", "t": 1.0, "people": 0, "bodies": 0, "faces": 0},
    ]


def test_people_count_with_faces_outside_bodies():
    bodies = np.array([[0, 0, 100, 300]], np.float32)
    face_boxes = np.array([[30, 20, 70, 60], [300, 20, 340, 60]], np.float32)
    assert PeopleDetector.count_with(bodies, face_boxes) == (1, 1)
    assert PeopleDetector.count_with(np.zeros((0, 4)), face_boxes) == (0, 2)
    # nested detections of one person merge
    boxes = np.array([[0, 0, 100, 200], [10, 10, 90, 190], [300, 0, 400, 200]], float)
    assert sorted(_merge(boxes, np.array([1.0, 0.5, 0.8]))) == [0, 2]
    with pytest.raises(InputError):
        PeopleDetector(min_height=0)


def test_event_and_report_schema():
    e = PersonAppeared(12.3456, "ann", 3, 0.912345, 0.82, (1, 2, 3, 4))
    assert e.to_dict() == {
        "type": "person_appeared", "t": 12.346, "person": "ann", "track": 3, "similarity": 0.9123,
        "threshold": 0.82, "box": [1.0, 2.0, 3.0, 4.0], "snapshot": None,
    }  # fmt: skip
    assert PersonLeft(14.0, None, 3, 12.0).to_dict() == {
        "type": "person_left",
        "t": 14.0,
        "person": None,
        "track": 3,
        "since": 12.0,
    }
    r = VideoReport("x.mp4", duration=9.1, frames=10, people={"ann": [[0.0, 1.23456]]}).to_dict()
    assert set(r) >= {"type", "duration", "frames", "realtime_factor", "people", "unknown_tracks", "tags", "counts"}
    assert r["type"] == "report" and r["people"] == {"ann": [[0.0, 1.235]]}
    assert r["stopped"] is False and r["truncated"] is False


def test_events_carry_their_source_and_wall_clock_time_once_stamped():
    """A receiver of two cameras' events tells them apart by ``source`` and orders them by
    ``time`` (ISO 8601 UTC); an event nobody stamped has neither key."""
    left = PersonLeft(14.0, None, 3, 12.0, source="cam1.mp4", time=1_796_157_667.1234)
    assert left.to_dict() == {
        "type": "person_left", "t": 14.0, "person": None, "track": 3, "since": 12.0,
        "source": "cam1.mp4", "time": "2026-12-01T20:41:07.123Z",
    }  # fmt: skip
    assert datetime.fromisoformat(left.to_dict()["time"]).utcoffset() == timedelta(0)
    assert set(PersonLeft(14.0, None, 3, 12.0).to_dict()).isdisjoint({"source", "time"})


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("clips/cam1.mp4", "clips/cam1.mp4"),
        ("rtsp://admin:hunter2@10.0.0.7:554/Streaming/101", "rtsp://10.0.0.7:554/Streaming/101"),
        ("https://cams.example/live.m3u8?channel=2&token=s3cr3t&X-Amz-Signature=ab", "https://cams.example/live.m3u8?channel=2&token=***&X-Amz-Signature=***"),
        ("http://user@[::1]:8080/a?api_key=k#frag", "http://[::1]:8080/a?api_key=***"),
    ],
)  # fmt: skip
def test_a_source_is_named_without_its_credentials_or_secret_query_values(given, shown):
    assert display_name(given) == shown
    assert display_name(0) == "0" and display_name(Path("a b.mp4")) == "a b.mp4"


@pytest.mark.parametrize(
    "bad",
    [dict(every=-1), dict(every="1"), dict(fpir=0), dict(fpir=True), dict(linger=1e9), dict(annotate="out.gif"),
     dict(annotate="/no/such/dir/out.mp4"), dict(max_seconds=-2),
     dict(webhook="ftp://host/x"), dict(webhook="localhost:80")],
)  # fmt: skip
def test_bad_options_are_input_errors(bad):
    with pytest.raises(InputError):
        VideoOptions(**bad)


def test_redaction_blurs_unnamed_faces_only():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (200, 300, 3), np.uint8)
    ov = Overlay(np.array([[20, 20, 80, 80], [200, 20, 260, 80]], np.float32), ("#1", "ann #2"), (False, True))
    before = img.copy()
    out = redact(img, ov)
    assert out is not img and np.array_equal(img, before)  # the input is untouched
    assert np.abs(out[30:70, 30:70].astype(int) - img[30:70, 30:70]).mean() > 30  # noise is gone
    assert np.array_equal(out[:, 180:], img[:, 180:])  # the named face and beyond are untouched
    assert redact(img, Overlay(ov.boxes[1:], ov.labels[1:], ov.named[1:])) is img


def test_a_shield_face_in_a_named_track_s_old_box_is_blurred():
    """Review of issue 17's shield: a face the shield finds inside the box of a named track that
    was not seen on this frame (kept while the track lingers, maybe across a shot cut) is a
    stranger's until shown otherwise: blurred. Inside a named face seen on this frame it is not."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (200, 300, 3), np.uint8)
    shield = np.array([[230, 60, 260, 100]], np.float32)
    lingering = Overlay(np.array([[200, 20, 300, 150]], np.float32), ("Lin #11",), (True,), None, (False,))
    out = redact(img, lingering, faces=shield)
    assert np.abs(out[65:95, 235:255].astype(int) - img[65:95, 235:255]).mean() > 30
    seen = Overlay(lingering.boxes, lingering.labels, lingering.named, None, (True,))
    assert redact(img, seen, faces=shield) is img


def test_after_a_cut_between_analysed_frames_no_face_is_exempt_as_named():
    """Review of issue 17: the frames after a shot cut that falls between analysed frames still
    carry the last analysed frame's overlay, whose named box may now hold somebody else; the
    shield's face there is blurred until the next analysed frame decides again."""
    from ocula.video.analyze import VideoAnalysis, _Pass

    class Shield:
        def boxes(self, rgb):
            return np.array([[230, 60, 260, 100]], np.float32)

    shot_a = np.full((200, 300, 3), (200, 40, 40), np.uint8)
    shot_b = np.random.default_rng(2).integers(0, 255, (200, 300, 3), np.uint8)
    run = _Pass(*([None] * 10), shield=Shield())  # type: ignore[arg-type]
    run.overlay = Overlay(np.array([[200, 20, 300, 150]], np.float32), ("Lin #11",), (True,), None, (True,))
    VideoAnalysis._shield_frame(run, Frame(0, 0.0, shot_a, analyse=True))
    assert not run.names_stale and run.redacted_overlay() is run.overlay
    VideoAnalysis._shield_frame(run, Frame(1, 0.03, shot_a, analyse=False))  # same shot: Lin still exempt
    assert redact(shot_a, run.redacted_overlay(), run.shielded) is shot_a
    VideoAnalysis._shield_frame(run, Frame(2, 0.07, shot_b, analyse=False))  # a cut
    assert run.names_stale and run.redacted_overlay().named == (False,)
    out = redact(shot_b, run.redacted_overlay(), run.shielded)
    assert np.abs(out[65:95, 235:255].astype(int) - shot_b[65:95, 235:255]).mean() > 30
    VideoAnalysis._shield_frame(run, Frame(3, 0.2, shot_b, analyse=True))  # decided again
    assert not run.names_stale


def test_the_annotated_copy_appears_under_its_name_only_when_finished(tmp_path):
    """Frames go to a hidden file beside the target, renamed when the writer closes: a killed run
    leaves nothing playable-looking under the name, and a file there stays whole until then."""
    target = tmp_path / "out.avi"
    target.write_bytes(b"the previous copy")
    writer = VideoWriter(target, 10.0, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    assert target.read_bytes() == b"the previous copy" and writer.partial.exists()
    writer.close()
    writer.close()  # twice is fine
    assert not writer.partial.exists() and target.stat().st_size > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi"]
    assert open_video(target).frame_count == 3


class CutShort(_Reader):
    """A file whose container states ``stated`` frames but holds ``n``, ``step`` seconds apart
    (None: no timestamps, so 1/30 s)."""

    fps, size = 30.0, (8, 8)

    def __init__(self, n: int, stated: int, step: float | None = None):
        self.n, self.i, self.frame_count, self.step = n, 0, stated, step

    def grab(self):
        self.i += 1
        return (self.i <= self.n), None if self.step is None else (self.i - 1) * self.step

    def retrieve(self):
        return np.zeros((8, 8, 3), np.uint8)

    def close(self):
        pass


@pytest.mark.parametrize(
    ("n", "stated", "step", "truncated"),
    [
        (100, 100, None, False),
        (95, 100, None, False),
        (60, 100, None, True),
        (60, 0, None, False),
        # Review of issue 17: a whole variable-rate Matroska file whose count is an estimate
        # (30 frames over 5.8 s, stated as 204 at 30 fps): fewer frames, but not less time.
        (30, 204, 0.2, False),
        (30, 204, 0.05, True),
    ],
)
def test_a_file_that_ends_well_before_its_stated_frames_and_time_is_truncated(n, stated, step, truncated):
    src = VideoSource(CutShort(n, stated, step), "cut.mp4", live=False)
    assert sum(1 for _ in src.frames(0.5)) == n
    assert src.truncated is truncated


def test_a_file_stopped_early_is_not_truncated():
    src = VideoSource(CutShort(60, 100), "cut.mp4", live=False)
    frames = src.frames(0.5)
    next(frames)
    frames.close()
    src.close()
    assert not src.truncated


def test_missing_and_corrupt_sources(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        open_video(tmp_path / "none.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(VideoError):
        open_video(bad)
    with pytest.raises(VideoError):
        open_video(3.5)  # type: ignore[arg-type]


class SlowCamera(_Reader):
    """A fake live reader producing frames as fast as it can."""

    fps, size = 30.0, (8, 8)

    def __init__(self, n: int):
        self.n, self.i = n, 0

    def grab(self):
        self.i += 1
        return (self.i <= self.n), self.i / 30

    def retrieve(self):
        return np.zeros((8, 8, 3), np.uint8)

    def close(self):
        pass


def test_a_live_source_drops_frames_instead_of_growing_memory():
    src = VideoSource(SlowCamera(400), "cam", live=True)
    got = []
    for frame in src.frames(0.0):
        got.append(frame.index)
        time.sleep(0.002)  # a slow consumer
    src.close()
    assert src.dropped > 0 and len(got) + src.dropped == 400
    assert got == sorted(got)


def test_a_file_source_waits_for_the_consumer_and_stops_early():
    src = VideoSource(SlowCamera(200), "file", live=False)
    frames = src.frames(0.1)
    got = [next(frames) for _ in range(50)]
    frames.close()  # the consumer stops: the reading thread must end, not hang on a full queue
    src.close()
    assert src.dropped == 0 and [f.index for f in got] == list(range(50))
    assert sum(f.analyse for f in got) == len({int(f.t / 0.1 + 1e-6) for f in got})
    assert not any(t.name == "ocula-video" and t.is_alive() for t in threading.enumerate())


def test_every_sense_of_an_abstract_word_is_too_general_for_a_frame_tag():
    from types import SimpleNamespace

    from ocula.taxonomy import imagenet_taxonomy
    from ocula.video.tagging import FrameTagger

    tax = imagenet_taxonomy()
    frames = FrameTagger(SimpleNamespace(taxonomy=tax))  # only the taxonomy is read here
    senses = [name for w, name in tax.names.items() if tax.lemmas[w][0] == "substance"]
    assert len(senses) == 2
    assert all(frames._mask(name) is None for name in senses)
    assert frames._mask("dog") is not None


def test_video_options_take_a_face_detector_by_name():
    from ocula.errors import UnknownName
    from ocula.video import VideoOptions

    assert VideoOptions(detector="yunet").detector.value == "yunet"
    with pytest.raises(UnknownName, match="did you mean yunet"):
        VideoOptions(detector="yunett")


def _frame(tracker, t, f, reuse=True, cut=False):
    """One analysed frame as the pipeline runs it: faces that may reuse their track's description
    are not described (their similarities are the track's); returns (tracks, described mask)."""
    reused = tracker.reusable(t, f.boxes) if reuse and not cut else [None] * len(f)
    similarities = [tr.similarities if tr is not None else s for tr, s in zip(reused, sims(f), strict=False)]
    seen, _ = tracker.update(t, f, similarities, 0.8, reused, cut=cut)
    for s in seen:
        s.decide(0.8)
    return seen, [r is None for r in reused]


def test_a_named_track_in_place_is_described_again_only_every_refresh():
    from ocula.video.tracking import REFRESH

    tr = FaceTracker(timeout=1.0)
    described = []
    times = [round(0.2 * k, 1) for k in range(16)]  # 3 s of ann, steady, at every=0.2
    for t in times:
        (track,), mask = _frame(tr, t, faces(("ann", BOX_A)))
        described += [t] * mask[0]
    assert track.person == "ann" and track.seen == len(described)
    # Described until decided (two frames), then once per REFRESH seconds, not on every frame.
    assert described[:2] == [0.0, 0.2]
    assert len(described) < len(times) / 2
    assert all(b - a <= REFRESH + 1e-6 for a, b in zip(described, [*described[1:], times[-1]], strict=False))
    assert track.last_t == times[-1] and track.box.tolist() == list(BOX_A)  # followed all along


def test_an_undecided_moved_or_crowded_face_is_described():
    tr = FaceTracker(timeout=1.0)
    (track,), mask = _frame(tr, 0.0, faces(("ann", BOX_A)))
    assert mask == [True]
    (track,), mask = _frame(tr, 0.2, faces(("ann", BOX_A)))
    assert mask == [True] and track.decided  # the second observation decides it
    moved = (130, 100, 190, 160)  # IoU 1/3 with BOX_A: same track, but described
    (again,), mask = _frame(tr, 0.4, faces(("ann", moved)))
    assert again is track and mask == [True]
    near = (160, 100, 220, 160)  # someone else overlapping ann's box: neither reuses
    _, mask = _frame(tr, 0.6, faces(("ann", moved), ("bob", near)))
    assert mask == [True, True]


def test_after_a_cut_a_face_in_the_same_place_is_described_and_continues_only_by_descriptor():
    runs = []
    for cut in (False, True):
        tr = FaceTracker(timeout=1.0, near=0.8, far=0.999)
        for t in (0.0, 0.2):
            (ann,), _ = _frame(tr, t, faces(("ann", BOX_A)))
        assert ann.person == "ann"
        # ann's face again at the same place, her descriptor 0.997 similar to the track's (above
        # ``near``, below ``far``), in the same shot or after a cut
        (after,), mask = _frame(tr, 0.4, faces(("ann", BOX_A)), cut=cut)
        runs.append((after is ann, mask))
    assert runs == [(True, [False]), (False, [True])]  # the same shot: reused; a cut: described, a new track


def test_shot_cuts_see_a_new_shot_not_a_moving_one():
    from ocula.video.tracking import ShotCuts

    rng = np.random.default_rng(3)
    stage = rng.integers(0, 60, (360, 640, 3), np.uint8)
    stage[..., 0] += 150  # a red stage
    audience = rng.integers(0, 60, (360, 640, 3), np.uint8)
    audience[..., 2] += 120  # a blue hall
    cuts = ShotCuts()
    assert cuts.cut(stage)  # the first frame starts a shot
    assert not cuts.cut(np.roll(stage, 40, axis=1))  # the camera pans
    assert cuts.cut(audience)
    assert not cuts.cut(audience)
