"""Word-level scores for CTC beam search: a KenLM n-gram model and hotword boosting.

Both score whole words, in natural-log units, so the beam search can add them to acoustic
log-probabilities. KenLM is optional: importing this module never needs it; without it,
`load_lm` reads ARPA files with the pure-Python `ngram.ArpaLM` (same scores, slower).
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

LN10 = math.log(10.0)  # KenLM returns log10 probabilities; the beam search works in ln

# KenLM's ARPA reader writes this hint to the C-level stderr on every load of a text model.
_KENLM_HINT = "Loading the LM will be faster if you build a binary file."

KENLM_MISSING = (
    "decoding with a language model needs the kenlm package, which is not installed; "
    "install it with `pip install kenlm` (it builds from source, about a minute)"
)


def load_lm(path: str | Path, unigrams: Iterable[str] | None = None) -> Any:
    """An n-gram LM for the beam search: KenLM's (`NGramLM`) when kenlm is installed, else the
    pure-Python `ngram.ArpaLM` for ARPA files (a KenLM binary file needs kenlm)."""
    try:
        import kenlm  # noqa: F401
    except ImportError:
        path = Path(path)
        if path.is_file() and _is_kenlm_binary(path):
            raise ImportError(KENLM_MISSING + " (or give the model as an ARPA file)") from None
        from .ngram import ArpaLM

        return ArpaLM(path)
    return NGramLM(path, unigrams)


class NGramLM:
    """A KenLM n-gram language model over words (ARPA text, gzipped ARPA or KenLM binary file).

    Load it once and pass it to `beam_search_decode(..., lm=...)` for many utterances.
    `unigrams`, the words the model knows, let the beam search penalise a partial word as soon as
    it begins no known word; they are read from an ARPA file, and a binary file (which does not
    list them) can be given them. States are opaque KenLM states; `begin()` is after `<s>`.
    """

    def __init__(self, path: str | Path, unigrams: Iterable[str] | None = None) -> None:
        try:
            import kenlm
        except ImportError as e:
            raise ImportError(KENLM_MISSING) from e
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"language model file not found: {path}")
        config = kenlm.Config()
        config.show_progress = False
        try:
            with _without_kenlm_hint():
                self._model = kenlm.Model(str(path), config)
        except (OSError, RuntimeError) as e:
            raise ValueError(f"cannot read {path} as an ARPA or KenLM binary model: {e}") from e
        self._kenlm = kenlm
        self.path = path
        self.order: int = self._model.order  # n of the n-gram model
        if unigrams is None and not _is_kenlm_binary(path):
            unigrams = _read_arpa_unigrams(path)
        # sorted, so that `is_prefix` is a binary search; None: unknown (a binary model)
        self.unigrams: list[str] | None = None
        if unigrams is not None:
            self.unigrams = sorted({w for w in unigrams if w not in ("<s>", "</s>", "<unk>")})

    def is_prefix(self, text: str) -> bool:
        """Whether some known word starts with `text` (True when the unigrams are unknown)."""
        if self.unigrams is None:
            return True
        i = bisect.bisect_left(self.unigrams, text)
        return i < len(self.unigrams) and self.unigrams[i].startswith(text)

    def begin(self) -> Any:
        """The state after the sentence start `<s>`."""
        state = self._kenlm.State()
        self._model.BeginSentenceWrite(state)
        return state

    def score(self, state: Any, word: str) -> tuple[float, Any]:
        """ln P(word | state) and the state after `word`. Unknown words get KenLM's <unk> score."""
        out = self._kenlm.State()
        return LN10 * self._model.BaseScore(state, word, out), out

    def score_end(self, state: Any) -> float:
        """ln P(</s> | state): the cost of ending the sentence here."""
        return LN10 * self._model.BaseScore(state, "</s>", self._kenlm.State())

    def __contains__(self, word: str) -> bool:
        return word in self._model

    def __repr__(self) -> str:
        return f"NGramLM({str(self.path)!r}, order={self.order})"


@contextlib.contextmanager
def _without_kenlm_hint() -> Iterator[None]:
    """Catch what C code writes to stderr (file descriptor 2) meanwhile, and pass it on without
    KenLM's hint about binary files (noise on every `w2vc transcribe` with an ARPA LM)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to tidy
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if line.strip() != _KENLM_HINT]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _is_kenlm_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(7) == b"mmap lm"


def _read_arpa_unigrams(path: Path) -> list[str]:
    """The words of an ARPA file's `\\1-grams:` section (it comes first, so this is quick)."""
    opener = gzip.open if path.suffix == ".gz" else open
    words, inside = [], False
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("\\"):
                if inside:
                    break
                inside = line == "\\1-grams:"
            elif inside and line:
                fields = line.split()  # log10 p, word, [backoff]
                if len(fields) >= 2:
                    words.append(fields[1])
    return words


class Hotwords:
    """Words to boost during beam search, with credit for their prefixes.

    A finished word that is a hotword earns `weight` (natural-log units). While a word is being
    spelled, a prefix `p` of some hotword earns `weight * len(p) / len(h)`, with `h` the shortest
    hotword starting with `p`, so a beam that is on its way to a hotword is not pruned before it
    gets there; the credit is taken back as soon as the spelling leaves every hotword.
    Phrases are split into words, each boosted on its own.
    """

    def __init__(self, words: Iterable[str], weight: float) -> None:
        if not math.isfinite(weight):
            raise ValueError(f"hotword_weight must be finite, got {weight}")
        self.weight = float(weight)
        self.words: frozenset[str] = frozenset(w for phrase in words for w in phrase.split())
        # every prefix (the full word included) -> length of the shortest hotword it starts
        self._target_len: dict[str, int] = {}
        for word in self.words:
            for i in range(1, len(word) + 1):
                prefix = word[:i]
                self._target_len[prefix] = min(self._target_len.get(prefix, len(word)), len(word))

    def __bool__(self) -> bool:
        return bool(self.words) and self.weight != 0.0

    def is_prefix(self, partial: str) -> bool:
        """Whether `partial` starts some hotword (the empty word starts them all)."""
        return partial == "" or partial in self._target_len

    def partial_credit(self, partial: str) -> float:
        """Credit for an unfinished word spelled `partial` so far."""
        n = self._target_len.get(partial)
        return 0.0 if n is None else self.weight * len(partial) / n

    def word_bonus(self, word: str) -> float:
        """Bonus for a finished word."""
        return self.weight if word in self.words else 0.0
