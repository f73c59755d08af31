"""The people of a gallery: their names (what a new name may hold) and the :class:`Person` record."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..collections import Collection
from ..errors import InputError

__all__ = ["Person", "check_new_person", "check_person", "people_of"]

_PERSON = re.compile(r"^[^\x00-\x1f/\\]{1,128}$")  # any printable name, no path separators


# Characters a new person name may not hold, by Unicode category: controls (Cc), format
# characters (Cf: bidi overrides, zero-width spaces and joiners, soft hyphens), line and
# paragraph separators (Zl, Zp), private use (Co), surrogates (Cs) and unassigned code points
# (Cn). They are invisible or drawn differently by each font, so "Ann Lee" and "Ann\u200bLee"
# would look like one person and be two.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
# ...except the zero-width non-joiner and joiner (Cf), which spell many Persian, Kurdish and
# Indic names (می‌خواهم; Devanagari half forms): allowed between two letters or marks, where
# they shape the word, never at an end, doubled, or beside a space or punctuation. Nor beside a
# Latin, Greek or Cyrillic letter: those scripts have no joining forms, so there a joiner
# changes nothing on screen and "Ann\u200dLee" would pass for "AnnLee".
_JOINERS = frozenset({"\u200c", "\u200d"})
_UNJOINED_SCRIPTS = ("LATIN ", "GREEK ", "CYRILLIC ")


def _joins_letters(person: str, i: int) -> bool:
    """The joiner at ``person[i]`` stands between two letters or combining marks of scripts
    where it shapes the text."""
    if i == 0 or i == len(person) - 1:
        return False
    for neighbour in (person[i - 1], person[i + 1]):
        if unicodedata.category(neighbour)[0] not in "LM":
            return False
        if neighbour.isascii() or unicodedata.name(neighbour, "").startswith(_UNJOINED_SCRIPTS):
            return False
    return True


def check_person(person: str) -> str:
    """A person name as it may be looked up (and forgotten): also names stored before the
    stricter rules of :func:`check_new_person` applied."""
    if not isinstance(person, str) or not _PERSON.match(person) or person.strip() != person or person in (".", ".."):
        raise InputError(
            f"invalid person name {person!r}: 1-128 printable characters, no '/' or '\\\\', no outer spaces"
        )
    return person


def check_new_person(person: str) -> str:
    """A name a person may be given: :func:`check_person`, and nothing that would let two
    names look alike. Names are refused, not rewritten, if they are not in Unicode NFC: a
    silently normalised name would not be found again under the spelling its caller used."""
    check_person(person)
    for i, char in enumerate(person):
        if char in _JOINERS and _joins_letters(person, i):
            continue
        category = unicodedata.category(char)
        if category in _INVISIBLE_CATEGORIES or (category == "Zs" and char != " "):
            raise InputError(
                f"invalid person name {person!r}: U+{ord(char):04X} ({unicodedata.name(char, category)}) is "
                "invisible or a look-alike; use letters, marks, digits, punctuation, symbols and plain spaces"
            )
    if not unicodedata.is_normalized("NFC", person):
        raise InputError(
            f"invalid person name {person!r}: not in Unicode NFC form; pass "
            f"unicodedata.normalize('NFC', name) ({unicodedata.normalize('NFC', person)!r})"
        )
    return person


@dataclass(frozen=True)
class Person:
    name: str
    photos: int
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.name, "photos": self.photos, "metadata": self.metadata}


def people_of(store: Collection) -> list[Person]:
    """The people of a gallery's store (or the clusters of a cluster store): their photos counted,
    the photo references left out of their metadata."""
    out = []
    for item in store.items():
        meta = dict(item.metadata)
        photos = meta.pop("photos", [])
        out.append(Person(item.id, len(photos), meta))
    return out
