"""Settings from OCULA_* variables and arguments: what a user sets is what ocula uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ocula import Settings


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
    with pytest.raises(ValidationError) as error:
        Settings()
    assert error.value.errors()[0]["loc"] == ("threads",)
    monkeypatch.delenv("OCULA_THREADS")
    with pytest.raises(ValidationError):
        Settings(thread=2)  # a typo is not silently ignored
    with pytest.raises(ValidationError):
        Settings(max_image_pixels=200_000_000)
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.threads = 4  # frozen
    assert settings.model_copy(update={"threads": 4}).threads == 4
