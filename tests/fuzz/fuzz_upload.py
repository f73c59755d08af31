"""atheris fuzz target: the service's upload path (multipart body -> limits -> decode -> a model),
through FastAPI's TestClient on ``POST /v1/tag``.

Every input must get 200 or a 4xx problem document (400 empty, 413 too large, 415 not an image,
422 unusable); a 5xx, a non-problem error body, an exception, a hang or memory past
``-rss_limit_mb`` is a finding. Run by tests/fuzz/test_fuzz.py; by hand:

    python tests/fuzz/fuzz_upload.py tests/fuzz/corpus -max_total_time=60 -rss_limit_mb=3072
"""

import sys
import tempfile
from pathlib import Path

import atheris

# Instrumented: the code an upload goes through (the multipart parser, Starlette, FastAPI, PIL,
# ocula). Instrumenting everything the block imports (numpy, pydantic, asyncio, ...) took 20 s of
# CPU before the first input and adds nothing to what the target tests.
INSTRUMENTED = ["python_multipart", "multipart", "starlette", "fastapi", "PIL", "ocula"]
with atheris.instrument_imports(include=INSTRUMENTED):
    import PIL.Image  # noqa: F401
    from fastapi.testclient import TestClient

    from ocula.config import Settings
    from ocula.service import create_app
    from ocula.service.keys import KeyStore, key_store_path
    from ocula.service.settings import ServiceSettings

DATA = Path(tempfile.mkdtemp(prefix="ocula-fuzz-"))
STORE = KeyStore(key_store_path(DATA))
KEY = STORE.create("fuzz", "read")[1]
STORE.close()
SERVICE = ServiceSettings(max_upload_bytes=4 * 2**20, max_upload_pixels=20_000_000, rate_per_minute=10**9)
CLIENT = TestClient(create_app(Settings(data_dir=DATA), SERVICE)).__enter__()


def one_input(data: bytes) -> None:
    r = CLIENT.post("/v1/tag", files={"file": ("upload", data)}, headers={"Authorization": f"Bearer {KEY}"})
    if r.status_code == 200:
        assert r.json()["tags"], r.text
        return
    assert r.status_code in (400, 413, 415, 422), (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    assert r.json()["status"] == r.status_code


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
