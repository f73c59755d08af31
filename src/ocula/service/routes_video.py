"""``POST /v1/video/jobs`` (upload a video, get a job id) and ``GET /v1/video/jobs/{id}`` (progress,
events, report)."""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile

from ..pipelines.faces import Detector
from ..video import VideoOptions
from .deps import Caller, Services, audited, require, services
from .jobs import JobQueueFull
from .problems import Problem

router = APIRouter(prefix="/v1", tags=["video"])

SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts"}


@router.post("/video/jobs", status_code=202, summary="Analyse an uploaded video in the background")
async def submit(
    file: Annotated[UploadFile, File(description="The video.")],
    gallery: Annotated[str | None, Form(max_length=55, description="Watchlist gallery.")] = None,
    fpir: Annotated[float, Form(gt=0, lt=1)] = 0.01,
    tags: Annotated[bool, Form()] = False,
    count_people: Annotated[bool, Form()] = False,
    every: Annotated[float, Form(ge=0, le=60)] = 0.2,
    detector: Annotated[
        Detector,
        Form(
            description="Face detector: yunet (faces v2: turned heads too) or hog (dlib, frontal); cnn and hog+cnn "
                "are slow."
        ),
    ] = Detector.YUNET,
    caller: Caller = require("write"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "fpir": fpir, "tags": tags, "count_people": count_people, "every": every, "detector": detector.value
    }
    VideoOptions(**options)  # 422 now rather than a failed job later
    if gallery:
        await svc.run(svc.gallery, gallery)  # 404 now for an unknown gallery
        options["gallery"] = gallery
    name = PurePath(file.filename or "video").name[:200] or "video"  # the client's name, for messages
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUFFIXES:
        suffix = ".mp4"  # the name is the client's; only the bytes decide (checked below)
    async with audited(svc, caller, "video_job", gallery or "-"):
        job_id, path = svc.jobs().new_path(suffix)
        try:
            await _save(file, path, svc.service.max_video_bytes)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        try:
            job = await svc.run(svc.jobs().submit, job_id, path, caller.key.id, options, name)
        except JobQueueFull as exc:
            raise Problem(503, "Busy", str(exc), {"Retry-After": "60"}) from None
    return job.to_dict(events=False)


async def _save(upload: UploadFile, path: PurePath, limit: int) -> None:
    """Stream the upload to ``path`` in 1 MiB chunks (a video can be large): 413 over ``limit``,
    400 when empty."""
    size = 0
    # 0600: an uploaded video (faces) is not for other local users; the umask is left alone
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise Problem(413, "Upload too large", f"{upload.filename or 'the video'} is over {limit:,} bytes")
            out.write(chunk)
    if size == 0:
        raise Problem(400, "Empty upload", f"{upload.filename or 'the video'} is 0 bytes")


@router.get("/video/jobs/{job_id}", summary="A video job's progress, events and report")
async def status(
    job_id: Annotated[str, Path(min_length=1, max_length=64)],
    caller: Caller = require("read"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    job = svc.jobs().get(job_id)
    if job is None or (job.owner != caller.key.id and caller.key.scope != "admin"):
        raise Problem(404, "Not found", f"no video job {job_id!r} of this key")
    return job.to_dict()
