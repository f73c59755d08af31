"""Word queries over concepts: ``"dogs"``, ``"golden retriever"``, ``"dog cat"``, ``"dog | cat"``.

A query is read as alternatives separated by ``|`` or ``OR``; each alternative is words that must
all hold. A *term* is the longest run of words that names concepts: a WordNet lemma ("domestic
dog"), a display name ("crane (wading bird)") or a wnid, case-insensitive, with English plurals
("dogs", "buses", "wolves", "geese", "golden retrievers") read as their singular. A lemma shared
by several concepts ("crane": the bird and the machine) names them all.

Scoring rule, stated once: a term scores an item by its best concept (max over the senses); an
alternative by its weakest term (min: "dog cat" is only as sure as the less sure of the two); a
query by its best alternative (max). Unknown words raise :class:`~ocula.errors.UnknownName` with
did-you-mean suggestions drawn from the lemmas.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from .concepts import ConceptSpace, concept_space
from .errors import InputError, UnknownName

__all__ = ["Query", "Term", "Vocabulary", "parse_query", "singular_forms", "vocabulary"]

#: Longest lemma, in words, tried when grouping a query's words into terms.
MAX_TERM_WORDS = 6

_IRREGULAR = {
    "geese": "goose", "mice": "mouse", "lice": "louse", "teeth": "tooth", "feet": "foot",
    "children": "child", "people": "person", "oxen": "ox", "dice": "die", "women": "woman",
    "men": "man", "cacti": "cactus", "fungi": "fungus", "octopi": "octopus", "hippopotami": "hippopotamus",
    "larvae": "larva", "antennae": "antenna", "bacteria": "bacterium", "axes": "axe", "calves": "calf",
    "halves": "half", "leaves": "leaf", "loaves": "loaf", "knives": "knife", "wives": "wife",
    "lives": "life", "thieves": "thief", "shelves": "shelf", "wolves": "wolf", "sheaves": "sheaf",
}  # fmt: skip

# (plural ending, singular ending), tried in order; every rule that yields a known word is kept.
_SUFFIX_RULES = (
    ("men", "man"),  # firemen, policemen
    ("ies", "y"),  # puppies, butterflies
    ("ves", "f"),  # scarves
    ("ves", "fe"),
    ("zzes", "z"),  # quizzes
    ("es", ""),  # buses, boxes, dishes, churches, tomatoes
    ("s", ""),  # dogs
    ("i", "us"),  # cacti, fungi
    ("ae", "a"),  # larvae
    ("a", "um"),  # bacteria
)

_OR_WORD = re.compile(r"(?<!\S)OR(?!\S)")  # OR standing alone, in capitals ("or" may be a word)
_SPLIT = re.compile(r"[\s,;]+")


def singular_forms(word: str) -> list[str]:
    """Candidate singulars of an English plural noun, most likely first (may include non-words:
    the caller keeps the ones it knows)."""
    word = word.lower()
    out = [_IRREGULAR[word]] if word in _IRREGULAR else []
    for plural, singular in _SUFFIX_RULES:
        if word.endswith(plural) and len(word) > len(plural) + 1:
            out.append(word[: len(word) - len(plural)] + singular)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Term:
    """Words of the query naming one or more concepts (several when a lemma has several senses)."""

    text: str
    concepts: tuple[int, ...]


@dataclass(frozen=True)
class Query:
    """Alternatives (max) of terms that must all hold (min); see the module docstring."""

    text: str
    alternatives: tuple[tuple[Term, ...], ...]

    @property
    def concepts(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(c for alt in self.alternatives for t in alt for c in t.concepts))

    def score(self, scores: np.ndarray) -> np.ndarray:
        """(N,) query scores from (N, C) dense concept scores (absent concepts as 0): the rule
        the concept index implements on its postings, here by brute force."""
        scores = np.asarray(scores)
        best = np.zeros(len(scores), np.float32)
        for alternative in self.alternatives:
            term_scores = [scores[:, list(t.concepts)].max(axis=1) for t in alternative]
            best = np.maximum(best, np.minimum.reduce(term_scores))
        return best


@dataclass(frozen=True)
class Vocabulary:
    """Phrase (lower case) -> the concept ids it names."""

    phrases: dict[str, tuple[int, ...]]
    lemmas: tuple[str, ...]  # for did-you-mean suggestions

    @classmethod
    def from_space(cls, space: ConceptSpace) -> Vocabulary:
        phrases: dict[str, list[int]] = {}
        taxonomy = space.taxonomy
        for cid, wnid in enumerate(space.wnids):
            for lemma in taxonomy.lemmas[wnid]:
                phrases.setdefault(_normal(lemma), []).append(cid)
        lemmas = tuple(sorted(phrases))
        for cid, wnid in enumerate(space.wnids):  # exact names pick one sense: "crane (wading bird)"
            phrases[_normal(taxonomy.names[wnid])] = [cid]
            phrases[wnid] = [cid]
        return cls({p: tuple(dict.fromkeys(ids)) for p, ids in phrases.items()}, lemmas)

    def lookup(self, phrase: str) -> tuple[int, ...] | None:
        """The concepts a phrase names, reading its last word as a plural if it must."""
        phrase = _normal(phrase)
        if phrase in self.phrases:
            return self.phrases[phrase]
        head, _, last = phrase.rpartition(" ")
        for singular in singular_forms(last):
            found = self.phrases.get(f"{head} {singular}" if head else singular)
            if found:
                return found
        return None

    def suggestions(self, word: str, n: int = 3) -> list[str]:
        """Known lemmas closest to ``word`` or to one of its singular forms ("puppies": "puppy"
        is not a concept, but it is what to compare)."""
        import difflib

        found: dict[str, None] = {}
        for form in (_normal(word), *singular_forms(_normal(word))):
            found.update(dict.fromkeys(difflib.get_close_matches(form, self.lemmas, n=n, cutoff=0.7)))
        return list(found)[:n]


def _normal(text: str) -> str:
    """Lower case, words separated by one space; commas and semicolons separate query words, so
    they go from names too ("table (desk, pool table)")."""
    # NFKC first: full-width or compatibility letters (U+FF24 for D, ligatures) read as the plain ones.
    return " ".join(re.sub(r"[_,;]", " ", unicodedata.normalize("NFKC", text).lower()).split())


def _terms(words: list[str], vocab: Vocabulary) -> tuple[Term, ...]:
    terms, i = [], 0
    while i < len(words):
        for j in range(min(len(words), i + MAX_TERM_WORDS), i, -1):  # longest phrase first
            phrase = " ".join(words[i:j])
            found = vocab.lookup(phrase)
            if found:
                terms.append(Term(phrase, found))
                i = j
                break
        else:
            word = words[i]
            raise UnknownName("word", word, suggestions=vocab.suggestions(word))
    return tuple(terms)


def parse_query(text: str, vocab: Vocabulary | None = None) -> Query:
    """Parse a word query (see the module docstring). Raises InputError when it is empty and
    UnknownName (with ``suggestions``) for a word no concept is named by."""
    vocab = vocab or vocabulary()
    alternatives = []
    for part in _OR_WORD.sub("|", text).split("|"):
        words = [w for w in _SPLIT.split(part) if w]
        if words:
            alternatives.append(_terms(words, vocab))
    if not alternatives:
        raise InputError("empty word query: give at least one word, e.g. 'dog'")
    return Query(text, tuple(alternatives))


@functools.lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The vocabulary of the shipped taxonomy."""
    return Vocabulary.from_space(concept_space())
