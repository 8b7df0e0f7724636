"""Hand-made CTC frames for the decoding tests: a vocabulary and log-prob builders (and whether
KenLM is installed)."""

import math

import numpy as np

from wav2vec2_conformer.decoding import CTCVocab, DecodeResult

# the layout of the reference's English vocab.json: <pad> is the blank, | the word delimiter
TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R"]
TOKENS += ["D", "L", "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q"]
TOKENS += ["Z"]
VOCAB = CTCVocab.from_tokens(TOKENS)
ID = {t: i for i, t in enumerate(TOKENS)}

# KenLM is optional (the pure-Python ArpaLM stands in); the LM tests check both when it is there
try:
    import kenlm  # noqa: F401 (a probe: installed and importable)

    HAVE_KENLM = True
except ImportError:
    HAVE_KENLM = False
NO_KENLM = "kenlm not installed (pip install kenlm)"


def peaky(frames: str, peak: float = 8.0) -> np.ndarray:
    """[frame, vocab] logits, one confident token per frame: `_` blank, `|` delimiter,
    `^` <s>, otherwise a letter."""
    names = {"_": "<pad>", "^": "<s>"}
    ids = [ID[names.get(c, c)] for c in frames]
    logits = np.zeros((len(ids), len(TOKENS)))
    logits[np.arange(len(ids)), ids] = peak
    return logits


def probs(*frames: dict[str, float]) -> np.ndarray:
    """[frame, vocab] log-probs from {token: probability}; the rest of the mass is spread out."""
    out = np.empty((len(frames), len(TOKENS)))
    for t, frame in enumerate(frames):
        rest = (1.0 - sum(frame.values())) / (len(TOKENS) - len(frame))
        out[t] = math.log(rest)
        for tok, p in frame.items():
            out[t, ID[tok]] = math.log(p)
    return out


def words(result: DecodeResult) -> list[tuple[str, int, int]]:
    return [(w.word, w.start_frame, w.end_frame) for w in result.words]
