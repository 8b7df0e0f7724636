"""Extra LM text from Debian packages, cleaned like the corpus sentences (2-40 words), without
any dev or eval sentence (the session-19 experiment of README.md here):

    python scripts/bundled_runs/lm_text/lm_text.py glosses --out runs/lmtext/glosses.txt
    python scripts/bundled_runs/lm_text/lm_text.py gcide --out runs/lmtext/gcide.txt

glosses: WordNet's definitions (`wordnet-base`: each gloss less its quoted example sentences,
cut at ";" and ":", brackets as commas). gcide: GCIDE (`dict-gcide`: Webster 1913 definitions
and quotations; headword lines, pronunciations, [notes], (labels) and "--Author." attributions
removed; the blocks taken from WordNet, which hold its example sentences, dropped).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import sys
from collections.abc import Iterator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

from wav2vec2_conformer.fileio import atomic_write_text  # noqa: E402
from wav2vec2_conformer.sentences import (  # noqa: E402
    clean_sentence,
    split_sentences,
    wordnet_glosses,
)

GCIDE = "/usr/share/dictd/gcide.dict.dz"


def gloss_clauses() -> Iterator[str]:
    for gloss in wordnet_glosses():
        definitions = re.sub(r'"[^"]*"', "", gloss)
        yield from re.split(r"[;:]", re.sub(r"[()]", ",", definitions))


def gcide_clauses() -> Iterator[str]:
    with gzip.open(GCIDE, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    for block in re.split(r"\n\s*\n", text):
        if "[WordNet" in block or "[PJC]" in block:
            continue
        lines = block.split("\n")
        body = " ".join(lines[1:] if "\\" in lines[0] else lines)
        for pattern in (r"\[[^\]]*\]", r"\\[^\\]*\\", r"--\s*[A-Z][\w .'&]*\.", r"\([^)]*\)"):
            body = re.sub(pattern, " ", body)
        body = body.replace("{", "").replace("}", "").replace("`", "'")
        yield from re.split(r"[;:.?!]\s|\s--\s|\"", body)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", choices=["glosses", "gcide"])
    p.add_argument("--out", required=True)
    args = p.parse_args()
    held = {s.text for k in ("dev", "eval") for s in split_sentences(k)}
    clauses = gloss_clauses() if args.source == "glosses" else gcide_clauses()
    out = set()
    for clause in clauses:
        s = clean_sentence(clause.strip(" ,"), 2, 40)
        if s is not None and s.text not in held:
            out.add(s.text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_write_text(args.out, "".join(t + "\n" for t in sorted(out)))
    print(f"{args.out}: {len(out):,} lines, {sum(len(t.split()) for t in out):,} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
