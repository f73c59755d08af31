"""Build ``src/ocula/data/imagenet_taxonomy.json`` from WordNet 3.0 (development time only).

ImageNet-1k classes are WordNet 3.0 noun synsets; a wnid ``n02099601`` is the noun synset at byte
offset 02099601 of WordNet's ``data.noun``. This script reads that file directly (no NLTK, no
network) and writes, for the 1000 classes in sorted-wnid order, a display label and the hypernym
graph above them, so ocula can report "golden retriever" together with "dog".

Inputs (both from package registries):
- WordNet 3.0 ``data.noun``: Debian package ``wordnet-base`` (``/usr/share/wordnet/data.noun``).
- The 1000 ILSVRC-2012 wnids: ``timm/data/_info/imagenet_synsets.txt`` from the ``timm`` wheel
  on PyPI (Apache-2.0), e.g. ``pip download --no-deps timm`` and unzip that one file.

Usage:
    python tools/build_imagenet_taxonomy.py --wordnet /usr/share/wordnet/data.noun \
        --synsets imagenet_synsets.txt --out src/ocula/data/imagenet_taxonomy.json
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

HYPERNYM_POINTERS = {"@", "@i"}  # hypernym and instance hypernym


def parse_data_noun(path: Path) -> dict[str, dict]:
    synsets: dict[str, dict] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("  "):  # license header
                continue
            data, _, gloss = line.partition(" | ")
            fields = data.split()
            offset, _lexfile, _pos, w_cnt = fields[0], fields[1], fields[2], int(fields[3], 16)
            words = [fields[4 + 2 * i] for i in range(w_cnt)]
            i = 4 + 2 * w_cnt
            p_cnt = int(fields[i])
            parents = []
            for j in range(p_cnt):
                symbol, target, target_pos = fields[i + 1 + 4 * j : i + 4 + 4 * j]
                if symbol in HYPERNYM_POINTERS and target_pos == "n":
                    parents.append("n" + target)
            lemmas = [_lemma_text(w) for w in words]
            synsets["n" + offset] = {"lemmas": lemmas, "parents": parents, "gloss": gloss.strip()}
    return synsets


def _lemma_text(word: str) -> str:
    # adjective markers such as "(a)" only occur in data.adj, but strip defensively
    return word.split("(")[0].replace("_", " ")


def closure(wnids: list[str], synsets: dict[str, dict]) -> set[str]:
    seen: set[str] = set()
    queue = collections.deque(wnids)
    while queue:
        w = queue.popleft()
        if w in seen:
            continue
        seen.add(w)
        queue.extend(synsets[w]["parents"])
    return seen


def display_names(wnids: set[str], synsets: dict[str, dict]) -> dict[str, str]:
    """First lemma; where synsets share it, add a readable qualifier in brackets until names are unique.

    Qualifiers, in order: the first parent's lemma ("crane (wading bird)"), the synset's second
    lemma, then up to two of its children in ``wnids`` ("table (desk, pool table)" against
    "table (dining table)"). Never the wnid: a user reads these names, and the wnid is its own
    field. A clash none of these resolves stops the build.
    """
    children: dict[str, list[str]] = collections.defaultdict(list)
    for w in sorted(wnids):
        for p in synsets[w]["parents"]:
            children[p].append(w)

    def qualifiers(w: str) -> list[str]:
        s = synsets[w]
        options = [synsets[s["parents"][0]]["lemmas"][0]] if s["parents"] else []
        options += s["lemmas"][1:2]
        kinds = sorted(synsets[c]["lemmas"][0] for c in children[w])
        options += [", ".join(kinds[:2])] if kinds else []
        return list(dict.fromkeys(q for q in options if q != s["lemmas"][0]))

    options = {w: qualifiers(w) for w in wnids}
    level = {w: 0 for w in wnids}

    def qualified(w: str) -> str:
        name = synsets[w]["lemmas"][0]
        return name if level[w] == 0 else f"{name} ({options[w][level[w] - 1]})"

    while True:
        names = {w: qualified(w) for w in wnids}
        counts = collections.Counter(names.values())
        clashing = sorted(w for w, n in names.items() if counts[n] > 1)
        if not clashing:
            return names
        stuck = [w for w in clashing if level[w] >= len(options[w])]
        if stuck:
            raise SystemExit(f"no readable qualifier tells these apart: {[(w, names[w]) for w in stuck]}")
        for w in clashing:
            level[w] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet/data.noun"))
    ap.add_argument("--synsets", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    synsets = parse_data_noun(args.wordnet)
    classes = [s.strip() for s in args.synsets.read_text().split() if s.strip()]
    if len(classes) != 1000 or classes != sorted(classes):
        raise SystemExit("expected the 1000 ImageNet wnids in sorted order")
    missing = [w for w in classes if w not in synsets]
    if missing:
        raise SystemExit(f"wnids not in WordNet 3.0: {missing[:5]}")
    everything = closure(classes, synsets)
    names = display_names(everything, synsets)
    doc = {
        "description": "ImageNet-1k classes (sorted-wnid order) with WordNet 3.0 hypernyms",
        "generated_by": "tools/build_imagenet_taxonomy.py",
        "sources": {
            "wordnet": "WordNet 3.0 data.noun (Debian wordnet-base 1:3.0), Princeton WordNet License",
            "class_list": "timm 1.0.31 timm/data/_info/imagenet_synsets.txt (Apache-2.0)",
        },
        "classes": classes,
        "synsets": {
            w: {
                "name": names[w],
                "lemmas": synsets[w]["lemmas"],
                "parents": [p for p in synsets[w]["parents"] if p in everything],
                "gloss": synsets[w]["gloss"],
            }
            for w in sorted(everything)
        },
    }
    args.out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}: {len(classes)} classes, {len(everything)} synsets")


if __name__ == "__main__":
    main()
