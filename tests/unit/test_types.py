from __future__ import annotations

import numpy as np
import pytest

from ocula.types import Tag, TagResult, Tags, object_array


def sample() -> Tags:
    return Tags.from_records(
        [
            Tag("golden retriever", "n02099601", 207, 0.7, ("retriever", "dog", "animal")),
            Tag("tabby", "n02123045", 281, 0.2, ("domestic cat", "cat", "animal")),
            Tag("dog", "n02084071", None, 0.75, ("canine", "animal")),
        ]
    )


def test_slicing_masks_and_records():
    tags = sample()
    assert len(tags) == 3
    assert isinstance(tags[0], Tag) and tags[0].label == "golden retriever" and tags[0].class_index == 207
    assert tags[2].class_index is None and tags[2].is_concept
    assert isinstance(tags[:2], Tags) and len(tags[:2]) == 2
    high = tags[tags.score > 0.5]
    assert list(high.label) == ["golden retriever", "dog"]
    assert list(tags[np.array([2, 0])].label) == ["dog", "golden retriever"]
    assert [t.label for t in tags] == ["golden retriever", "tabby", "dog"]
    assert tags.top.label == "golden retriever" and Tags.empty().top is None


def test_has_matches_concept_or_ancestor():
    tags = sample()
    assert list(tags.has("dog")) == [True, False, True]
    assert list(tags.has("animal")) == [True, True, True]
    assert list(tags[tags.has("cat")].label) == ["tabby"]


@pytest.mark.parametrize("name", ["Dog", "domestic dog", "n02084071"])
def test_has_accepts_synonyms_case_and_wnids(name):
    assert list(sample().has(name)) == [True, False, True]


def test_has_refuses_typos():
    from ocula import UnknownName

    with pytest.raises(UnknownName):
        sample().has("dgo")


def test_to_dicts_schema():
    d = sample().to_dicts()[0]
    assert d == {"label": "golden retriever", "class_index": 207, "wnid": "n02099601", "score": 0.7,
                 "ancestors": ["retriever", "dog", "animal"]}
    assert sample().to_dicts()[2]["class_index"] is None


@pytest.mark.parametrize(
    "change",
    [
        dict(score=np.array([0.5, 0.2], np.float32)),  # wrong length
        dict(score=np.array([0.5, 0.2, 0.1], np.float64)),  # wrong dtype
        dict(score=np.array([1.5, 0.2, 0.1], np.float32)),  # not a probability
        dict(score=np.array([np.nan, 0.2, 0.1], np.float32)),
        dict(class_index=np.array([0, 1, 1000], np.int64)),
        dict(class_index=np.array([0, 1, 2], np.int32)),
        dict(label=np.array(["a", "b", "c"])),  # not an object array
    ],
)
def test_constructor_checks(change):
    t = sample()
    fields = dict(label=t.label, wnid=t.wnid, class_index=t.class_index, score=t.score, ancestors=t.ancestors)
    fields.update(change)
    with pytest.raises(ValueError):
        Tags(**fields)


def test_bad_mask_shape():
    with pytest.raises(IndexError):
        sample()[np.array([True, False])]


def test_object_array_keeps_tuples():
    arr = object_array([("a", "b"), ("c", "d")])
    assert arr.shape == (2,) and arr[0] == ("a", "b")


def test_tag_result_to_dict():
    ok = TagResult("x.jpg", tags=sample())
    assert ok.ok and ok.to_dict()["path"] == "x.jpg" and len(ok.to_dict()["tags"]) == 3
    bad = TagResult("y.jpg", error=ValueError("boom"))
    assert not bad.ok and bad.to_dict() == {"path": "y.jpg", "error": "boom", "error_type": "ValueError"}
