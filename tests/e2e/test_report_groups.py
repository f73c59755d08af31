"""The report's sections on data with a ``group`` column (per-group accuracy and the gap between
groups), run in-process with the session ``engine`` on a few pairs and photos. Apart from
tests/browser/test_report.py (which reads the session's full report): pytest-xdist gives each
file to one worker, so these run beside the report instead of after it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ..conftest import shared

pytestmark = pytest.mark.e2e


def test_a_group_column_gives_the_per_group_table(engine, tmp_path):
    """A pairs CSV with a group column (here: the LFW fold), on 120 pairs of each fold: the
    section's table and gap are the ones :func:`pairs_by_group` gives for its scores. The 100
    impostor pairs of a fold pair up the photos of its 20 genuine pairs (different people), so
    68 photos are embedded, not the 370 that LFW's own impostor pairs bring."""
    from ocula.eval.report import pairs_by_group, pairs_section

    lfw = shared("faces/lfw-folds-1-2")
    folder = tmp_path / "faces" / "lfw-grouped"  # "lfw" in the name: read as tight crops, as the report does
    folder.mkdir(parents=True)
    (folder / "images").symlink_to(lfw / "images")
    lines = (lfw / "pairs.csv").read_text().splitlines()
    header = lines[0].split(",")
    fold, same = header.index("fold"), header.index("same")
    a, b = header.index("image_a"), header.index("image_b")
    rows = []
    for wanted in ("1", "2"):
        genuine = [r for r in lines[1:] if r.split(",")[fold] == wanted and r.split(",")[same] == "1"][:20]
        photos = list(dict.fromkeys(p for r in genuine for p in (r.split(",")[a], r.split(",")[b])))
        # 100 impostor pairs, enough to measure FAR 1e-2: two of these photos of different people
        impostor = [(x, y) for x, y in itertools.combinations(photos, 2) if x.split("/")[0] != y.split("/")[0]]
        assert len(impostor) >= 100
        values = [{"fold": wanted, "image_a": x, "image_b": y, "same": "0"} for x, y in impostor[:100]]
        rows += [f"{line},fold-{wanted}" for line in genuine]
        rows += [",".join(v[column] for column in header) + f",fold-{wanted}" for v in values]
    (folder / "pairs.csv").write_text("\n".join([lines[0] + ",group", *rows]) + "\n")
    section = pairs_section(engine, folder / "pairs.csv", tmp_path)
    caption, header, table = section.tables[0]
    assert caption.startswith("By group") and [r[0] for r in table] == ["fold-1", "fold-2"]
    groups = np.array([row.rsplit(",", 1)[1] for row in rows])
    expected, gap = pairs_by_group(np.array(section.numbers["scores"]), np.array(section.numbers["same"]), groups)
    assert table == expected and section.numbers["group_tar_gap"] == gap and 0 <= gap <= 1


def test_identification_by_group(engine, tmp_path):
    """An identities CSV with a group column (a stand-in label: the parity of the CelebA id)."""
    from ocula.eval.report import identify_section

    celeba = shared("faces/celeba-80")
    rows = (celeba / "identities.csv").read_text().splitlines()
    keep = sorted({line.split(",")[1] for line in rows[1:]})[:8]  # 8 identities (101 photos): a quick run
    folder = tmp_path / "faces" / "grouped"
    folder.mkdir(parents=True)
    for entry in celeba.iterdir():
        if entry.is_dir():
            (folder / entry.name).symlink_to(entry)
    out = [rows[0] + ",group"]
    for line in rows[1:]:
        identity = line.split(",")[1]
        if identity in keep:
            out.append(f"{line},{'odd' if int(identity) % 2 else 'even'}")
    (folder / "identities.csv").write_text("\n".join(out) + "\n")
    section = identify_section(engine, folder / "identities.csv", tmp_path)
    caption, header, table = section.tables[0]
    assert caption.startswith("By group") and header[0] == "group" and {r[0] for r in table} == {"even", "odd"}
    assert set(section.numbers["group_fnir"]) == {"even", "odd"} and 0 <= section.numbers["group_fnir_gap"] <= 1
