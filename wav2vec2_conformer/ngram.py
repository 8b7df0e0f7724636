"""Word n-gram language models without KenLM: estimate one from text, write and read ARPA files.

    model = estimate(["the cat sat", "the dog ran"], order=3)   # interpolated Kneser-Ney
    write_arpa(model, "lm.arpa.gz")
    lm = ArpaLM("lm.arpa.gz")            # same interface as `lm.NGramLM`, for the beam search

Estimation is interpolated Kneser-Ney with one absolute discount per order,
D = n1 / (n1 + 2 n2) from the counts of n-grams seen once and twice (Chen & Goodman). Lower
orders use continuation counts (how many distinct words precede an n-gram), except n-grams
that start with `<s>`, which nothing precedes and which keep their plain counts. An
interpolated model is exactly a backoff model whose backoff weight of a context h is
D * N1+(h .) / c(h .), so it is written as a standard ARPA file that KenLM also reads.
The vocabulary is the text's words and, optionally, a word list's (`vocabulary`: words the
text never uses, which get only the uniform share of the unigram mass, as `<unk>` does: a
general English word list lets the beam search spell rare words that the text lacks).
A count cut-off (`prune`) leaves out rare n-grams for a smaller file and renormalises the
backoff weights of their contexts (`prune_counts`).

`ArpaLM` reads any ARPA file (plain or gzipped) into dictionaries and scores with the usual
backoff rule; it is slower than KenLM but needs nothing beyond Python.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from .fileio import atomic_path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LN10 = math.log(10.0)
NO_PROB = -99.0  # log10 "probability" ARPA files give <s>, which is never predicted

CASES = {"keep": str, "lower": str.lower, "upper": str.upper}  # --case: spell as the vocabulary

Gram = tuple[str, ...]
Model = dict[int, dict[Gram, tuple[float, float]]]  # order -> n-gram -> (log10 p, log10 bow)


def _discount(counts: Iterable[int]) -> float:
    n1 = n2 = 0
    for c in counts:
        n1 += c == 1
        n2 += c == 2
    if n1 == 0 or n2 == 0:
        return 0.5
    return min(max(n1 / (n1 + 2 * n2), 0.1), 0.9)


def estimate(
    sentences: Iterable[str], order: int = 3, vocabulary: Iterable[str] = (), prune: int = 0
) -> Model:
    """An interpolated Kneser-Ney model of whitespace-separated words, its vocabulary extended
    by the words of `vocabulary` (see the module doc); with `prune`, n-grams of order 2 and up
    seen at most `prune` times are left out (`prune_counts`)."""
    if order < 2:
        raise ValueError(f"order must be at least 2 (KenLM reads no unigram model), got {order}")
    raw: dict[int, dict[Gram, int]] = {n: defaultdict(int) for n in range(1, order + 1)}
    for sentence in sentences:
        tokens = [BOS, *sentence.split(), EOS]
        if len(tokens) == 2:
            continue
        for n in range(1, order + 1):
            for i in range(len(tokens) - n + 1):
                raw[n][tuple(tokens[i : i + n])] += 1
    if not raw[1]:
        raise ValueError("no text to estimate a language model from")
    # adjusted counts: plain at the top order and for n-grams starting with <s>, else the
    # number of distinct words seen before the n-gram
    adjusted: dict[int, dict[Gram, int]] = {order: dict(raw[order])}
    for n in range(order - 1, 0, -1):
        cont: dict[Gram, int] = defaultdict(int)
        for gram in raw[n + 1]:
            cont[gram[1:]] += 1
        adjusted[n] = {g: (c if g[0] == BOS else cont.get(g, 0)) for g, c in raw[n].items()}
    adjusted[1].pop((BOS,), None)
    for word in (UNK, *vocabulary):
        adjusted[1].setdefault((word,), 0)

    model: Model = {}
    # unigrams: discounted continuation counts plus a uniform share (for <unk> as well)
    uni = adjusted[1]
    d = _discount(uni.values())
    total = sum(uni.values())
    uniform = d * sum(1 for c in uni.values() if c > 0) / total / len(uni)
    model[1] = {g: (math.log10(max(c - d, 0) / total + uniform), 0.0) for g, c in uni.items()}
    model[1][(BOS,)] = (NO_PROB, 0.0)
    for n in range(2, order + 1):
        grams = adjusted[n]
        d = _discount(grams.values())
        totals: dict[Gram, int] = defaultdict(int)
        types: dict[Gram, int] = defaultdict(int)
        for g, c in grams.items():
            totals[g[:-1]] += c
            types[g[:-1]] += c > 0
        bows = {h: d * types[h] / totals[h] for h in totals if totals[h] > 0}
        model[n] = {}
        for g, c in grams.items():
            h = g[:-1]
            if totals[h] == 0 or c == 0:
                continue
            lower = 10.0 ** score_gram(model, g[1:])
            model[n][g] = (math.log10((c - d) / totals[h] + bows[h] * lower), 0.0)
        for h, bow in bows.items():  # the context's backoff weight lives on its own entry
            p, _ = model[n - 1][h]
            model[n - 1][h] = (p, math.log10(bow))
    if prune:
        prune_counts(model, raw, prune)
    return model


def prune_counts(model: Model, counts: dict[int, dict[Gram, int]], threshold: int) -> None:
    """Count cut-off, in place: drop the n-grams (order 2 and up) seen at most `threshold`
    times, but for those a kept longer n-gram starts or ends with. The kept probabilities stay
    as estimated; each context's backoff weight is recomputed so that its distribution sums to
    one again: bow(h) = (1 - sum of kept p(w | h)) / (1 - sum of their lower-order p(w | h'))."""
    needed: set[Gram] = set()
    for n in range(len(model), 1, -1):
        kept = {g: v for g, v in model[n].items() if counts[n].get(g, 0) > threshold or g in needed}
        model[n] = kept
        needed = {g[:-1] for g in kept} | {g[1:] for g in kept}
    for n in range(2, len(model) + 1):  # lower orders first: their weights score the next
        mass: dict[Gram, float] = defaultdict(float)
        lower: dict[Gram, float] = defaultdict(float)
        for g, (p, _) in model[n].items():
            mass[g[:-1]] += 10.0**p
            lower[g[:-1]] += 10.0 ** score_gram(model, g[1:])
        for h, (p, _) in model[n - 1].items():
            bow = max(1.0 - mass[h], 1e-12) / max(1.0 - lower[h], 1e-12) if h in mass else 1.0
            model[n - 1][h] = (p, math.log10(bow))


def score_gram(model: Model, gram: Gram) -> float:
    """log10 P(gram[-1] | gram[:-1]) by the backoff rule; unknown words score as <unk>."""
    word = gram[-1] if (gram[-1],) in model[1] else UNK
    context = gram[:-1][-(len(model) - 1) :] if len(model) > 1 else ()
    total = 0.0
    while True:
        entry = model.get(len(context) + 1, {}).get((*context, word))
        if entry is not None:
            return total + entry[0]
        bow = model.get(len(context), {}).get(context) if context else None
        total += bow[1] if bow else 0.0
        context = context[1:]


def read_sentences(paths: Iterable[str | os.PathLike], case: str = "keep") -> list[str]:
    """Sentences from text files (one a line) and manifests (`.tsv`: the transcript after the
    tab), with spaces collapsed and case changed to `case` (keep, lower or upper) to match the
    spelling of the CTC vocabulary."""
    change = CASES[case]
    out = []
    for path in paths:
        path = Path(path)
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if path.suffix == ".tsv":
                        line = line.partition("\t")[2]
                    text = " ".join(change(line).split())
                    if text:
                        out.append(text)
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: cannot read text ({e})") from None
    if not out:
        raise ValueError("no sentences in " + ", ".join(map(str, paths)))
    return out


def read_vocabulary(path: str | os.PathLike, sentences: list[str], case: str = "keep") -> list[str]:
    """The words of a word list (one a line, as /usr/share/dict/words), case changed to `case`,
    less those spelled with a character `sentences` never use (accents, digits, a case the
    vocabulary lacks) and those already in `sentences`; sorted, without duplicates."""
    change = CASES[case]
    alphabet = set("".join(sentences)) - {" "}
    known = {w for s in sentences for w in s.split()}
    try:
        with open(path, encoding="utf-8") as f:
            words = {w for line in f for w in change(line).split()[:1]}
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read a word list ({e})") from None
    return sorted(w for w in words - known if set(w) <= alphabet)


def write_arpa(model: Model, path: str | os.PathLike, digits: int = 6) -> None:
    """Write `model` as an ARPA file (gzipped when the name ends in .gz), atomically, its log10
    probabilities and backoff weights rounded to `digits` decimals (fewer: a smaller file)."""
    path = Path(path)
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(model[n])}" for n in sorted(model)]
    for n in sorted(model):
        lines += ["", f"\\{n}-grams:"]
        top = n == len(model)
        for gram, (p, bow) in sorted(model[n].items()):
            text = f"{p:.{digits}f}\t{' '.join(gram)}"
            lines.append(text if top else f"{text}\t{bow:.{digits}f}")
    lines += ["", "\\end\\", ""]
    data = "\n".join(lines).encode("utf-8")
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            # no name or time in the header: the same model gives the same bytes
            with open(tmp, "wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as f:
                f.write(data)
        else:
            Path(tmp).write_bytes(data)


def read_arpa(path: str | os.PathLike) -> Model:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"language model file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    model: Model = {}
    n = 0
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("ngram ") or line in ("\\data\\", "\\end\\"):
                    continue
                if line.startswith("\\") and line.endswith("-grams:"):
                    n = int(line[1:].split("-")[0])
                    model[n] = {}
                    continue
                fields = line.split()
                if n == 0 or len(fields) not in (n + 1, n + 2):
                    raise ValueError(f"unexpected line {line[:60]!r}")
                bow = float(fields[n + 1]) if len(fields) == n + 2 else 0.0
                model[n][tuple(fields[1 : n + 1])] = (float(fields[0]), bow)
    except (OSError, UnicodeDecodeError, ValueError, EOFError) as e:
        raise ValueError(f"cannot read {path} as an ARPA file: {e}") from None
    if 1 not in model or sorted(model) != list(range(1, len(model) + 1)):
        raise ValueError(f"cannot read {path} as an ARPA file: no n-gram sections")
    model[1].setdefault((UNK,), (NO_PROB, 0.0))
    return model


class ArpaLM:
    """An ARPA n-gram model in plain Python, with the interface of `lm.NGramLM`: `begin()`,
    `score(state, word)`, `score_end(state)`, `is_prefix(text)`, `unigrams`, `in`.
    States are tuples of the last `order - 1` words; scores are natural logs."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._model = read_arpa(self.path)
        self.order = len(self._model)
        self.unigrams = sorted(w for (w,) in self._model[1] if w not in (BOS, EOS, UNK))
        self._prefixes = {w[:i] for w in self.unigrams for i in range(1, len(w) + 1)}

    def is_prefix(self, text: str) -> bool:
        """Whether some known word starts with `text` (the empty text starts them all)."""
        return not text or text in self._prefixes

    def begin(self) -> Gram:
        return (BOS,)

    def score(self, state: Gram, word: str) -> tuple[float, Gram]:
        logp = score_gram(self._model, (*state, word))
        keep = self.order - 1
        return LN10 * logp, ((*state, word)[-keep:] if keep else ())

    def score_end(self, state: Gram) -> float:
        return LN10 * score_gram(self._model, (*state, EOS))

    def __contains__(self, word: str) -> bool:
        return (word,) in self._model[1] and word not in (BOS, EOS, UNK)

    def __repr__(self) -> str:
        return f"ArpaLM({str(self.path)!r}, order={self.order})"
