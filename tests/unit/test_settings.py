"""Settings from OCULA_* variables and arguments: what a user sets is what ocula uses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ocula import ConfigError, Settings


def test_variables_set_what_arguments_do_not(monkeypatch, tmp_path):
    monkeypatch.setenv("OCULA_THREADS", "3")
    monkeypatch.setenv("OCULA_OFFLINE", "false")
    monkeypatch.setenv("ocula_batch_size", "7")  # names are case-insensitive
    monkeypatch.setenv("OCULA_DATA_DIR", "~/ocula-data")
    monkeypatch.setenv("OCULA_SERVICE_RATE_PER_MINUTE", "10")  # the service's, not ours: ignored
    settings = Settings(threads=2)
    assert settings.threads == 2  # an argument beats a variable
    assert settings.offline is False and settings.batch_size == 7
    assert settings.data_dir == Path("~/ocula-data").expanduser()
    assert Settings().threads == 3
    monkeypatch.setenv("OCULA_OFFLINE", "0")
    assert Settings().offline is False


def test_defaults_without_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings()
    assert settings.data_dir == tmp_path / "ocula"
    assert (settings.threads, settings.offline, settings.vectors, settings.batch_size) == (0, True, "faiss", 16)


def test_bad_values_and_unknown_names_are_refused(monkeypatch):
    monkeypatch.setenv("OCULA_THREADS", "many")
    with pytest.raises(ConfigError, match=r"invalid setting threads \(from OCULA_THREADS\): not a whole number"):
        Settings()
    monkeypatch.delenv("OCULA_THREADS")
    with pytest.raises(TypeError, match="thread"):
        Settings(thread=2)  # a typo is not silently ignored
    with pytest.raises(ConfigError, match="max_image_pixels: must be at most 178,956,970"):
        Settings(max_image_pixels=200_000_000)
    for bad in ({"threads": "2.5"}, {"threads": True}, {"offline": "perhaps"}, {"offline": 2}, {"data_dir": 3},
                {"vectors": 1}, {"download_timeout": 0}, {"download_timeout": "nan"}, {"download_timeout": "inf"},
                {"download_timeout": 10**400}, {"batch_size": 0}, {"max_image_bytes": -1}):
        with pytest.raises(ConfigError, match=f"invalid setting {next(iter(bad))}"):
            Settings(**bad)
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.threads = 4  # frozen
    assert settings.replace(threads=4).threads == 4 and settings.model_copy(update={"threads": 4}).threads == 4
    with pytest.raises(ConfigError):
        settings.replace(threads=-1)  # a copy is checked like arguments


def test_values_are_read_as_their_types_and_a_copy_round_trips(monkeypatch, tmp_path):
    for name in ("THREADS", "OFFLINE", "DOWNLOAD_TIMEOUT", "DATA_DIR"):
        monkeypatch.delenv(f"OCULA_{name}", raising=False)
    settings = Settings(threads="3", offline="No", download_timeout="2.5", data_dir=str(tmp_path), batch_size=8.0)
    assert (settings.threads, settings.offline, settings.download_timeout, settings.batch_size) == (3, False, 2.5, 8)
    assert settings.data_dir == tmp_path and isinstance(settings.batch_size, int)
    numpy_values = Settings(
        threads=np.int64(2), batch_size="16.0", offline=np.bool_(False), download_timeout=np.float32(3.5)
    )
    assert (numpy_values.threads, numpy_values.batch_size, numpy_values.offline) == (2, 16, False)
    assert type(numpy_values.threads) is int and type(numpy_values.offline) is bool
    assert settings.model_dump(mode="json") == settings.as_dict() and settings.model_dump()["data_dir"] == tmp_path
    assert Settings(**settings.as_dict()) == settings  # how Ray workers get the caller's settings
    assert list(settings.as_dict()) == [field.name for field in dataclasses.fields(Settings)]
