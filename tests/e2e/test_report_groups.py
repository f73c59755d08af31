"""The report's sections on data with a ``group`` column (per-group accuracy and the gap between
groups), run in-process with the session ``engine`` on a few pairs and photos. Apart from
tests/browser/test_report.py (which reads the session's full report): pytest-xdist gives each
file to one worker, so these run beside the report instead of after it."""

from __future__ import annotations

import numpy as np
import pytest

from ..conftest import shared

pytestmark = pytest.mark.e2e


def test_a_group_column_gives_the_per_group_table(engine, tmp_path):
    """A pairs CSV with a group column (here: the LFW fold), on 120 pairs of each fold: the
    section's table and gap are the ones :func:`pairs_by_group` gives for its scores."""
    from ocula.eval.report import pairs_by_group, pairs_section

    lfw = shared("faces/lfw-folds-1-2")
    folder = tmp_path / "faces" / "lfw-grouped"  # "lfw" in the name: read as tight crops, as the report does
    folder.mkdir(parents=True)
    (folder / "images").symlink_to(lfw / "images")
    lines = (lfw / "pairs.csv").read_text().splitlines()
    header = lines[0].split(",")
    fold, same = header.index("fold"), header.index("same")
    rows = []
    for wanted in ("1", "2"):
        for kind, n in (("1", 20), ("0", 100)):  # 100 impostor pairs: enough to measure FAR 1e-2
            kept = [line for line in lines[1:] if line.split(",")[fold] == wanted and line.split(",")[same] == kind]
            rows += [f"{line},fold-{wanted}" for line in kept[:n]]
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
