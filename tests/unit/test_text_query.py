"""Word queries: lemmas, synonyms, plurals, both/either, unknown words with suggestions."""

from __future__ import annotations

import numpy as np
import pytest

from ocula.concepts import concept_space
from ocula.errors import InputError, UnknownName
from ocula.taxonomy import imagenet_taxonomy
from ocula.text_query import Query, Term, parse_query, singular_forms, vocabulary


def concept(name: str) -> int:
    return concept_space().id_of[imagenet_taxonomy().resolve(name)]


def terms(text: str) -> list[list[tuple[int, ...]]]:
    return [[t.concepts for t in alternative] for alternative in parse_query(text).alternatives]


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("dogs", "dog"), ("puppies", "puppy"), ("buses", "bus"), ("wolves", "wolf"), ("geese", "goose"),
     ("knives", "knife"), ("boxes", "box"), ("churches", "church"), ("firemen", "fireman"), ("cacti", "cactus")],
)  # fmt: skip
def test_singular_forms(plural, singular):
    assert singular in singular_forms(plural)


@pytest.mark.parametrize(
    ("text", "name"),
    [("dog", "dog"), ("Dogs", "dog"), ("domestic dog", "dog"), ("buses", "bus"), ("wolves", "wolf"),
     ("geese", "goose"), ("golden retrievers", "golden retriever"), ("Golden_Retriever", "golden retriever"),
     ("musical instruments", "musical instrument"), ("canines", "canine"), ("n02084071", "dog"),
     ("strawberries", "strawberry"), ("foxes", "fox"), ("\uff24\uff2f\uff27\uff33", "dog")],
)  # fmt: skip
def test_one_word_names_its_concept(text, name):
    assert terms(text) == [[(concept(name),)]]


def test_every_lemma_and_display_name_reads_as_one_term():
    vocab = vocabulary()
    tax = imagenet_taxonomy()
    names = {*vocab.lemmas, *tax.names.values()}
    assert len(names) > 3000
    for name in names:
        (alternative,) = parse_query(name, vocab).alternatives
        assert len(alternative) == 1, name
    assert terms("table (desk, pool table)") == [[(concept("table (desk, pool table)"),)]]


def test_a_lemma_of_several_concepts_names_them_all_and_a_display_name_one():
    assert set(terms("crane")[0][0]) == {concept("crane (wading bird)"), concept("crane (lifting device)")}
    assert terms("crane (wading bird)") == [[(concept("crane (wading bird)"),)]]


def test_several_words_must_all_hold_and_bars_or_OR_give_alternatives():
    dog, cat, bus = concept("dog"), concept("cat"), concept("bus")
    assert terms("dog cat") == [[(dog,), (cat,)]]
    assert terms("dog, cat") == [[(dog,), (cat,)]]
    for text in ("dog | cat", "dog|cat", "dog OR cat"):
        assert terms(text) == [[(dog,)], [(cat,)]], text
    assert terms("golden retriever bus | cat") == [[(concept("golden retriever"),), (bus,)], [(cat,)]]


def test_unknown_word_raises_with_suggestions():
    with pytest.raises(UnknownName) as info:
        parse_query("dog retreiver")
    assert info.value.name == "retreiver" and "retriever" in info.value.suggestions
    assert "did you mean" in str(info.value) and "retriever" in str(info.value)
    with pytest.raises(UnknownName) as info:
        parse_query("retreivers")  # compared in the singular too
    assert "retriever" in info.value.suggestions
    with pytest.raises(UnknownName) as info:
        parse_query("qwxzy")
    assert info.value.suggestions == () and "did you mean" not in str(info.value)


@pytest.mark.parametrize("text", ["", "   ", "|", " OR "])
def test_empty_query_is_an_input_error(text):
    with pytest.raises(InputError, match="empty"):
        parse_query(text)


def test_score_rule_max_over_senses_min_over_words_max_over_alternatives():
    scores = np.array([[0.9, 0.2, 0.0, 0.5], [0.1, 0.8, 0.6, 0.0]], np.float32)
    a, b, c, d = (Term(n, (i,)) for i, n in enumerate("abcd"))
    both = Query("a b", ((a, b),))
    assert np.allclose(both.score(scores), [0.2, 0.1])
    senses = Query("ac", ((Term("ac", (0, 2)),),))
    assert np.allclose(senses.score(scores), [0.9, 0.6])
    either = Query("c | d", ((c,), (d,)))
    assert np.allclose(either.score(scores), [0.5, 0.6])
