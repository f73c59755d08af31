"""A worker that enrols and forgets people in a gallery, or adds and deletes items in a
collection, in a loop, printing one JSON line after each change is committed. The crash tests
kill it with SIGKILL at a random moment and check the store against what it printed.

    python crash_worker.py DATA_DIR gallery|collection SEED
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from ocula import Settings
from ocula.collections import Collection, NewItem
from ocula.face_types import Faces
from ocula.galleries import Gallery


def descriptor(name: str) -> np.ndarray:
    """A fixed descriptor per name: far from every other name's (random 128-D, scaled like dlib's)."""
    rng = np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:16], 16))
    return (rng.normal(0, 0.09, 128)).astype(np.float32)


def face_of(name: str) -> Faces:
    return Faces(
        boxes=np.array([[10, 10, 110, 110]], np.float32),
        scores=np.ones(1, np.float32),
        landmarks=np.zeros((1, 5, 2), np.float32),
        size=np.full(1, 60, np.float32),
        sharpness=np.full(1, 0.01, np.float32),
        frontal=np.ones(1, np.float32),
        embeddings=descriptor(name)[None],
        image_size=(200, 200),
    )


def say(**event) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main() -> None:
    data_dir, kind, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = Settings(data_dir=data_dir)
    rng = np.random.default_rng(seed)
    if kind == "gallery":
        with Gallery.open("crash", settings=settings, create=True, descriptor="dlib") as g:  # dlib-like vectors
            say(op="ready")
            while True:
                person = f"p{rng.integers(0, 40):02d}"
                say(op="begin", person=person)  # the change in flight when killed may or may not land
                if person in g and rng.random() < 0.4:
                    g.forget(person)
                    say(op="forgot", person=person)
                else:
                    g.enroll(person, face_of(person))
                    say(op="enrolled", person=person)
    else:
        with Collection.open("crash", settings=settings, embedder="test@1", dim=128, create=True) as c:
            say(op="ready")
            while True:
                item = f"i{rng.integers(0, 200):03d}"
                say(op="begin", item=item)
                if c.get(item) is not None and rng.random() < 0.4:
                    c.delete([item])
                    say(op="deleted", item=item)
                else:
                    v = descriptor(item)
                    c.add([NewItem(item, (v / np.linalg.norm(v))[None], metadata={"seed": seed})])
                    say(op="added", item=item)


if __name__ == "__main__":
    main()
