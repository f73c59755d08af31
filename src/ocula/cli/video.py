"""``ocula video``: watchlist alerts, identity and tag timelines, people counts, redaction."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..engine import Engine
from ..pipelines.faces import Detector
from ..video import analyze
from ..video.events import CountEvent, Event, PersonAppeared, PersonLeft, TagEnded, TagStarted, VideoReport
from ._common import EXIT_FAILED, cli_errors, emit_json, print_error, progress_bar, settings_of, stdout

#: The signals that end a run cleanly (the annotated copy finished, the report printed): Ctrl-C,
#: and what ``kill``, systemd and Docker send to stop a process. The exit code is then, as shells
#: expect, 128 + the signal (130, 143).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _line(event: Event) -> str | None:
    who = lambda e: e.person or f"unknown #{e.track}"  # noqa: E731
    if isinstance(event, PersonAppeared):
        sim = "" if event.similarity is None else f", similarity {event.similarity:.3f}"
        return f"{event.t:8.2f}s  {who(event)} appeared (track {event.track}{sim})"
    if isinstance(event, PersonLeft):
        return f"{event.t:8.2f}s  {who(event)} left (since {event.since:.2f}s)"
    if isinstance(event, TagStarted):
        return f"{event.t:8.2f}s  tag {event.tag} started ({event.score:.2f})"
    if isinstance(event, TagEnded):
        return f"{event.t:8.2f}s  tag {event.tag} ended"
    if isinstance(event, CountEvent):
        return None  # per-second counts go in the summary, not the live log
    return None


def _summary(report: VideoReport) -> Table:
    table = Table(title=Text(report.source), title_justify="left", show_edge=False, pad_edge=False, show_header=False)
    table.add_column("what", style="dim")
    table.add_column("value")
    spans = lambda d: "; ".join(f"{k}: " + ", ".join(f"{a:.1f}-{b:.1f}s" for a, b in v) for k, v in d.items())  # noqa: E731
    table.add_row("video", f"{report.duration:.1f} s, {report.frames} frames ({report.analysed_frames} analysed)")
    table.add_row("speed", f"{report.realtime_factor:.2f}x real time" + (" (stopped)" if report.stopped else ""))
    table.add_row("people", Text(spans(report.people) or "-"))
    table.add_row("unknown faces", str(report.unknown_tracks))
    if report.tags:
        table.add_row("tags", Text(spans(report.tags)))
    if report.counts:
        table.add_row("people per second", " ".join(str(c["people"]) for c in report.counts))
    if report.annotated:
        table.add_row("annotated", Text(report.annotated))
    if report.webhook is not None:
        table.add_row("webhook", ", ".join(f"{k} {v}" for k, v in report.webhook.items()))
    return table


def _process_start() -> float:
    """When this process started, on the ``time.perf_counter`` clock, so that the report's
    realtime factor counts the interpreter's start and the imports too. Linux reads it from
    /proc; elsewhere (or if that fails) it is now, the command's own start."""
    now = time.perf_counter()
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            # Field 22 (after the parenthesised name, which may hold spaces): start, in clock ticks since boot.
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            since_boot = float(uptime.read().split()[0])
        age = since_boot - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - age if 0 <= age < 3600 else now


def video_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(help="A video file, an rtsp:// or http(s):// URL, or a camera index (0).", show_default=False),
    ],
    gallery: Annotated[
        str | None,
        typer.Option("--gallery", "-g", help="Watchlist: name the faces enrolled in this gallery.", show_default=False),
    ] = None,
    fpir: Annotated[
        float, typer.Option(min=1e-6, max=0.5, help="False-positive identification rate of the watchlist.")
    ] = 0.01,
    tags: Annotated[bool, typer.Option("--tags", help="Tag timeline (ImageNet labels and their concepts).")] = False,
    count_people: Annotated[
        bool, typer.Option("--count-people", help="People per second (person detector + faces).")
    ] = False,
    every: Annotated[
        float, typer.Option(min=0.0, max=60.0, help="Seconds of video between the frames the face models see.")
    ] = 0.2,
    annotate: Annotated[
        Path | None,
        typer.Option(help="Write a copy with boxes, names and track ids (.mp4 or .avi).", show_default=False),
    ] = None,
    redact: Annotated[
        bool,
        typer.Option("--redact", help="Blur every face that is not an enrolled person (annotated video, snapshots)."),
    ] = False,
    snapshots: Annotated[
        Path | None,
        typer.Option(
            help="Save a JPEG of each appearance's face in this folder (made if missing).", show_default=False
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            help="POST each event as JSON to this http(s) URL (loopback and private addresses are fine; link-local "
                "and cloud metadata ones are refused).",
            show_default=False,
        ),
    ] = None,
    webhook_allow_link_local: Annotated[
        bool,
        typer.Option(
            "--webhook-allow-link-local",
            help="Let --webhook reach a link-local (169.254.0.0/16, fe80::/10) or cloud metadata address.",
        ),
    ] = False,
    max_seconds: Annotated[
        float | None, typer.Option(min=0.0, help="Stop after this many seconds of video.", show_default=False)
    ] = None,
    detector: Annotated[
        Detector,
        typer.Option(
            metavar="DETECTOR",
            help="Face detector the tracks follow: yunet (faces v2: turned heads too, fixed cost per frame) or hog "
                "(dlib, frontal faces); cnn and hog+cnn are slow. --redact blurs what YuNet finds on each frame "
                "either way.",
        ),
    ] = Detector.YUNET,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON event per line as they happen, then the report.")
    ] = False,
) -> None:
    """Analyse a video: who appears when (with --gallery), tags, people counts; optionally an
    annotated or redacted copy. Ctrl-C stops early and still prints the report."""
    settings = settings_of(ctx)
    with cli_errors(json_output=as_json), Engine(settings) as engine:
        run = analyze(
            source, gallery=gallery, engine=engine, fpir=fpir, tags=tags, count_people=count_people, every=every,
            annotate=annotate, redact=redact, snapshots=snapshots, webhook=webhook,
            webhook_allow_link_local=webhook_allow_link_local, max_seconds=max_seconds, detector=detector,
            started=_process_start(),
        )  # fmt: skip
        interrupted: list[int] = []

        def on_stop(signum: int, _frame: object) -> None:  # the first: finish cleanly; a second one kills
            interrupted.append(signum)
            run.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        previous: dict[int, object] = {}  # filled one by one: a signal meanwhile restores those set so far
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, on_stop)
        try:
            total = run.source.frame_count or None
            with progress_bar(total, label="video", json_output=as_json) as bar:
                task = bar.add_task("video", total=total)
                run.on_frame = lambda frame: bar.advance(task)
                for event in run:
                    if as_json:
                        emit_json(event.to_dict())
                    elif (line := _line(event)) is not None:
                        bar.console.print(Text(line))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    assert run.report is not None
    if as_json:
        emit_json(run.report.to_dict())
    else:
        stdout.print(_summary(run.report))
    if interrupted:
        raise typer.Exit(128 + interrupted[0])
    if run.report.truncated:
        print_error(
            f"{run.report.source}: the video ended after {run.report.frames} of its {run.source.frame_count} frames "
            "(a truncated or damaged file); the report covers what was read"
        )
        raise typer.Exit(EXIT_FAILED)
