"""Settings of ``ocula serve`` (env ``OCULA_SERVICE_*``), apart from the library's Settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OCULA_SERVICE_", extra="ignore")

    max_upload_bytes: int = Field(20 * 2**20, gt=0, description="Largest accepted upload (413 above).")
    max_upload_pixels: int = Field(40_000_000, gt=0, le=178_956_970, description="Largest decoded width*height.")
    rate_per_minute: int = Field(120, ge=1, description="Requests per minute per key (429 above, with Retry-After).")
    workers: int = Field(2, ge=1, le=64, description="Model calls running at once; more requests wait their turn.")
    max_queued: int = Field(
        8, ge=0, le=10_000, description="Requests waiting for a worker at most (503 with Retry-After beyond)."
    )
    queue_wait_seconds: float = Field(
        30.0, gt=0, le=3600, description="Longest wait for a worker (then 503 with Retry-After)."
    )
    cnn_seconds: float = Field(
        30.0, gt=0, le=3600,
        description="Longest run of dlib's CNN face detector on one photo (it runs in a child process; 422 beyond).",
    )  # fmt: skip
    cnn_max_pixels: int = Field(
        500_000, ge=10_000, le=100_000_000,
        description="Most pixels dlib's CNN face detector searches in one photo (larger photos are searched "
        "shrunk, smaller ones upsampled only within it): ~1 KB of memory and ~10 us per pixel. The library's "
        "default is 2.56 MP.",
    )  # fmt: skip
    work_seconds: float = Field(
        60.0, gt=0, le=3600,
        description="Work an enrolment may do: photos not started by then are refused (the first always runs).",
    )  # fmt: skip
    max_video_bytes: int = Field(500 * 2**20, gt=0, description="Largest accepted video upload for a job.")
    # -- connections of `ocula serve` (the perimeter: service/server.py) --------------------------
    header_timeout: float = Field(10.0, gt=0, le=3600, description="Seconds to send a request's headers (408 after).")
    body_timeout: float = Field(600.0, gt=0, description="Seconds to send a request's whole body (408 after).")
    idle_timeout: float = Field(30.0, gt=0, description="Seconds a request's body may stall without a byte (408).")
    keep_alive: float = Field(5.0, gt=0, le=300, description="Seconds an idle kept-alive connection stays open.")
    max_connections: int = Field(1000, ge=1, description="Open connections at most (requests beyond: 503).")
    max_connections_per_client: int = Field(32, ge=1, description="Open connections per client address (429, closed).")
