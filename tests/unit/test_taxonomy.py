from __future__ import annotations

import csv
import re

import pytest

from ocula import UnknownName
from ocula.taxonomy import imagenet_taxonomy

from ..conftest import shared


def test_thousand_sorted_classes_with_unique_names():
    tax = imagenet_taxonomy()
    assert len(tax.classes) == 1000 and list(tax.classes) == sorted(tax.classes)
    assert len(set(tax.labels)) == 1000
    assert len(set(tax.names.values())) == len(tax.names)  # every concept name is unique


def test_golden_retriever_is_a_dog():
    tax = imagenet_taxonomy()
    assert tax.labels[207] == "golden retriever" and tax.classes[207] == "n02099601"
    anc = tax.ancestors("n02099601")
    assert anc[:4] == ("retriever", "sporting dog", "hunting dog", "dog")
    assert "animal" in anc and anc[-1] == "entity"


def test_resolve_by_name_lemma_and_wnid():
    tax = imagenet_taxonomy()
    dog = tax.resolve("dog")
    assert dog == "n02084071"
    assert tax.resolve("Domestic Dog") == dog and tax.resolve("n02084071") == dog
    assert tax.resolve("crane (wading bird)") != tax.resolve("crane (lifting device)")


def test_descendants():
    tax = imagenet_taxonomy()
    dogs = tax.descendants_mask(tax.resolve("dog"))
    assert dogs.sum() == 118  # ImageNet's dog classes (indices 151-268)
    assert dogs[151:269].all() and not dogs[:151].any() and not dogs[269:].any()
    assert tax.descendants_mask("n02099601").sum() == 1


def test_unknown_concept_suggests():
    with pytest.raises(UnknownName, match=r"did you mean.*dog"):
        imagenet_taxonomy().resolve("dgo")


def test_agrees_with_shared_imagenet_labels():
    labels = shared("imagenet/sample-334/labels.csv")
    tax = imagenet_taxonomy()
    with labels.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 334
    for row in rows:
        assert tax.classes[int(row["class_index"])] == row["wnid"]


def _build_tool():
    """tools/build_imagenet_taxonomy.py, imported from the repository (it is not package code)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "build_imagenet_taxonomy.py"
    spec = importlib.util.spec_from_file_location("build_imagenet_taxonomy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_are_readable_never_wnids():
    tax = imagenet_taxonomy()
    with_ids = [n for n in tax.names.values() if re.search(r"n\d{8}", n)]
    assert not with_ids, with_ids
    tables = sorted(tax.names[w] for w in tax.names if tax.lemmas[w][0] == "table")
    assert tables == ["table (desk, pool table)", "table (dining table)"]
    assert tax.ancestors(tax.resolve("dining table"))[0] == "table (dining table)"
    assert tax.resolve("table (desk, pool table)") == "n04379243"  # the wnid stays its own field


def test_build_tool_names_the_shipped_synsets_exactly():
    # The shipped file carries each synset's lemmas and parents, which is all the naming rule reads.
    tax = imagenet_taxonomy()
    synsets = {w: {"lemmas": list(tax.lemmas[w]), "parents": list(tax.parents[w])} for w in tax.names}
    assert _build_tool().display_names(set(synsets), synsets) == tax.names
