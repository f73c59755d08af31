"""``OCULA_*`` environment variables, the image limits' defaults, and the CPUs at hand.

:class:`ocula.config.Settings` reads its variables and takes the image limits' defaults here. The
command line reads the image limits here too, before ``ocula.config`` (and the dataclasses it
imports) is imported, to start decoding the first photo of ``faces verify`` when the process
starts (cli/_ahead.py); it uses that decode only when the settings it builds later agree on both
limits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = [
    "ENV_PREFIX",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "PIL_MAX_PIXELS",
    "available_cpus",
    "environment_values",
    "image_limits",
]

ENV_PREFIX = "OCULA_"

#: Defaults of the settings ``max_image_bytes`` and ``max_image_pixels``.
MAX_IMAGE_BYTES = 100 * 2**20
MAX_IMAGE_PIXELS = 100_000_000
#: Pillow refuses more than 2 * its MAX_IMAGE_PIXELS itself: the largest ``max_image_pixels``.
PIL_MAX_PIXELS = 178_956_970


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and container cpusets). Here, not
    in :mod:`ocula.config`, so that :mod:`ocula.image_file` can ask before the configuration is
    imported (``Settings.effective_threads`` and the image reduction ask the same question)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def environment_values(fields: Iterable[str]) -> dict[str, str]:
    """The value of ``OCULA_<FIELD>`` (the variable's name in any case) for each of ``fields``
    that has one."""
    variables = {name.upper(): value for name, value in os.environ.items()}
    return {field: variables[ENV_PREFIX + field.upper()] for field in fields if ENV_PREFIX + field.upper() in variables}


def image_limits() -> tuple[int, int] | None:
    """``(max_image_bytes, max_image_pixels)`` as the environment sets them (their defaults
    where unset), or None where a variable is not a whole number in range (the settings then
    refuse it with a clear error)."""
    values = environment_values(("max_image_bytes", "max_image_pixels"))
    try:
        limits = (
            int(values.get("max_image_bytes", MAX_IMAGE_BYTES)),
            int(values.get("max_image_pixels", MAX_IMAGE_PIXELS)),
        )
    except ValueError:
        return None
    return limits if limits[0] > 0 and 0 < limits[1] <= PIL_MAX_PIXELS else None
