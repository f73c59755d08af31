"""A store dropped by another process while ``ocula serve`` holds it open: the service opens the
name again instead of answering from its dropped handle (which refuses everything) until restart."""

from __future__ import annotations

import pytest

from ocula import Settings
from ocula.collections import drop_collection
from ocula.errors import UnknownName
from ocula.service.deps import Services
from ocula.service.settings import ServiceSettings


def test_a_collection_dropped_meanwhile_is_opened_again(engine, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", cache_dir=engine.settings.cache_dir)
    svc = Services(settings, ServiceSettings(), engine=engine)
    try:
        first = svc.collection("shop", create=True)
        assert svc.collection("shop") is first  # kept open between requests
        drop_collection("shop", settings)  # as `ocula collections drop shop` in another process
        assert first.dropped
        with pytest.raises(UnknownName):
            svc.collection("shop")  # gone: said so, not answered from the dropped file
        again = svc.collection("shop", create=True)
        assert again is not first and not again.dropped and len(again) == 0
    finally:
        svc.close()
