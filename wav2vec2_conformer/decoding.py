"""CTC decoding: from per-frame scores over a vocabulary to text with word and character timings.

Two decoders share one input convention and one result type:
- `greedy_decode`: best token per frame, repeats merged, blanks dropped.
- `beam_search_decode` (in `beam_search.py`): CTC prefix beam search with an optional KenLM
  word n-gram model and hotwords.

Inputs are log-probabilities or logits (log-softmax is applied here) as a NumPy array or a
torch tensor, either `[frame, vocab]` for one utterance or `[batch, frame, vocab]` with optional
`lengths` (valid frames per item; frames past them are ignored). The vocabulary is a `CTCVocab`,
a plain id -> token list that does not depend on any tokenizer class.

Text and timings follow transformers' `Wav2Vec2CTCTokenizer.decode(..., output_char_offsets=True,
output_word_offsets=True)`: a character spans the frames of its run of repeats, `start_frame`
inclusive and `end_frame` exclusive; a word spans its first to its last character. Times in
seconds are frames times `seconds_per_frame` (320 samples / 16 kHz = 0.02 s for the released
models). Two differences in `text`: words are joined by single spaces (the reference keeps one
space per delimiter in a run), and special tokens (`<s>`, `</s>`, `<unk>`) are dropped after
repeats are merged, as blanks are. The reference writes them out by default, and with
`skip_special_tokens=True` drops them, and the blank, before merging: "HEL<pad>LO" -> "HELO".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

SECONDS_PER_FRAME = 320 / 16000  # the feature encoder's stride (320 samples) at 16 kHz


@dataclass(frozen=True)
class CTCVocab:
    """The output layer of a CTC model: which id is which token.

    Build it with `from_tokens` or `from_vocab_dict` (the `vocab.json` format); lists and sets
    passed to the constructor are stored as tuple and frozenset.
    """

    tokens: tuple[str, ...]  # token string of each output id, in id order
    blank_id: int = 0  # id of the CTC blank ("<pad>" in the reference's vocabularies)
    word_delimiter: str | None = "|"  # token between words, written as a space; None: no words
    special_ids: frozenset[int] = field(default_factory=frozenset)  # never written (<s>, <unk>)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "special_ids", frozenset(int(i) for i in self.special_ids))
        n = len(self.tokens)
        if n < 2:
            raise ValueError(f"a CTC vocabulary needs a blank and at least one token, got {n}")
        if len(set(self.tokens)) != n:
            dup = sorted({t for t in self.tokens if self.tokens.count(t) > 1})
            raise ValueError(f"duplicate tokens in the vocabulary: {dup}")
        if not 0 <= self.blank_id < n:
            raise ValueError(f"blank_id {self.blank_id} is outside the vocabulary (size {n})")
        bad = sorted(i for i in self.special_ids if not 0 <= i < n)
        if bad:
            raise ValueError(f"special ids {bad} are outside the vocabulary (size {n})")
        if self.word_delimiter is not None:
            if self.word_delimiter not in self.tokens:
                raise ValueError(f"word delimiter {self.word_delimiter!r} is not in the vocabulary")
            if self.delimiter_id in self.special_ids or self.delimiter_id == self.blank_id:
                raise ValueError("the word delimiter cannot be the blank or a special token")

    @classmethod
    def from_tokens(
        cls,
        tokens: Sequence[str],
        blank: str = "<pad>",
        word_delimiter: str | None = "|",
        specials: Iterable[str] = ("<s>", "</s>", "<unk>"),
    ) -> CTCVocab:
        """From the token of each id. `specials` absent from `tokens` are skipped, and so are the
        blank and the delimiter (a tokenizer's special tokens may well include them)."""
        tokens = list(tokens)
        if blank not in tokens:
            raise ValueError(f"blank token {blank!r} is not in the vocabulary")
        skip = (blank, word_delimiter)
        special_ids = {tokens.index(s) for s in specials if s in tokens and s not in skip}
        return cls(tuple(tokens), tokens.index(blank), word_delimiter, frozenset(special_ids))

    @classmethod
    def from_vocab_dict(cls, vocab: Mapping[str, int], **kwargs: Any) -> CTCVocab:
        """From a token -> id mapping (`vocab.json`); ids must be exactly 0..len(vocab)-1."""
        tokens = sorted(vocab, key=vocab.__getitem__)
        if [vocab[t] for t in tokens] != list(range(len(vocab))):
            raise ValueError("vocabulary ids must be exactly 0..len(vocab)-1, without gaps")
        return cls.from_tokens(tokens, **kwargs)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def delimiter_id(self) -> int | None:
        return None if self.word_delimiter is None else self.tokens.index(self.word_delimiter)

    @property
    def letter_ids(self) -> list[int]:
        """Ids that spell words: everything but the blank, the delimiter and the specials."""
        skip = {self.blank_id, self.delimiter_id, *self.special_ids}
        return [i for i in range(len(self.tokens)) if i not in skip]


@dataclass(frozen=True)
class CharTiming:
    char: str  # the token's text; a word delimiter is " "
    start_frame: int  # first frame of the token's run, inclusive
    end_frame: int  # end of the run, exclusive
    start_s: float  # start_frame * seconds_per_frame
    end_s: float  # end_frame * seconds_per_frame


@dataclass(frozen=True)
class WordTiming:
    word: str
    start_frame: int  # start of its first character, inclusive
    end_frame: int  # end of its last character, exclusive
    start_s: float
    end_s: float


@dataclass(frozen=True)
class DecodeResult:
    text: str  # words joined by single spaces
    score: float  # greedy: log-prob of the best path; beam: acoustic + LM + bonuses of the beam
    words: list[WordTiming] | None = None  # filled when timestamps are asked for
    chars: list[CharTiming] | None = None  # every token written, delimiters too (as the reference)


def prepare_inputs(log_probs: Any, vocab: CTCVocab, lengths: Any) -> tuple[list[np.ndarray], bool]:
    """Check shapes and values; return each utterance's `[frame, vocab]` log-softmax (float64)
    cut to its length, and whether the input was a batch."""
    if hasattr(log_probs, "detach"):  # a torch tensor, without importing torch
        log_probs = log_probs.detach().float().cpu().numpy()
    x = np.asarray(log_probs, dtype=np.float64)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"expected log-probs of shape [frame, vocab] or [batch, frame, vocab], got {x.shape}"
        )
    if x.shape[-1] != len(vocab):
        raise ValueError(
            f"the last dimension of log-probs {x.shape} does not match the vocabulary size "
            f"{len(vocab)}"
        )
    batched = x.ndim == 3
    if not batched:
        if lengths is not None:
            raise ValueError("lengths are only for batched input of shape [batch, frame, vocab]")
        x, lens = x[None], [x.shape[0]]
    elif lengths is None:
        lens = [x.shape[1]] * x.shape[0]
    else:
        if hasattr(lengths, "detach"):
            lengths = lengths.detach().cpu().numpy()
        lens_arr = np.asarray(lengths)
        if lens_arr.shape != (x.shape[0],) or not np.issubdtype(lens_arr.dtype, np.integer):
            raise ValueError(
                f"lengths must be {x.shape[0]} integers (one per batch item), got {lens_arr!r}"
            )
        if (lens_arr < 0).any() or (lens_arr > x.shape[1]).any():
            raise ValueError(f"lengths must lie in [0, {x.shape[1]}], got {lens_arr.tolist()}")
        lens = lens_arr.tolist()
    out = []
    for b, n in enumerate(lens):
        item = x[b, :n]
        if np.isnan(item).any() or np.isposinf(item).any():
            raise ValueError(f"log-probs of item {b} contain NaN or +inf")
        with np.errstate(invalid="ignore"):
            top = item.max(axis=-1, keepdims=True)
            item = item - (top + np.log(np.exp(item - top).sum(axis=-1, keepdims=True)))
        if np.isnan(item).any():
            raise ValueError(f"item {b} has a frame whose scores are all -inf")
        out.append(item)
    return out, batched


def result_from_path(
    path: np.ndarray,
    vocab: CTCVocab,
    score: float,
    timestamps: bool,
    seconds_per_frame: float,
) -> DecodeResult:
    """Text and timings from one token id per frame: merge repeats, drop blanks and specials."""
    if len(path) == 0:
        return DecodeResult("", score, [] if timestamps else None, [] if timestamps else None)
    cut = np.flatnonzero(path[1:] != path[:-1]) + 1
    starts = np.concatenate(([0], cut)).tolist()
    ends = np.concatenate((cut, [len(path)])).tolist()
    skip = {vocab.blank_id, *vocab.special_ids}
    delimiter = vocab.delimiter_id
    chars: list[CharTiming] = []
    words: list[WordTiming] = []
    word: list[CharTiming] = []

    def timing(kind: type, text: str, start: int, end: int) -> Any:
        return kind(text, start, end, start * seconds_per_frame, end * seconds_per_frame)

    def flush() -> None:
        if word:
            text = "".join(c.char for c in word)
            words.append(timing(WordTiming, text, word[0].start_frame, word[-1].end_frame))
            word.clear()

    for tok, start, end in zip(path[starts].tolist(), starts, ends, strict=True):
        if tok in skip:
            continue
        if tok == delimiter:
            chars.append(timing(CharTiming, " ", start, end))
            flush()
        else:
            chars.append(timing(CharTiming, vocab.tokens[tok], start, end))
            word.append(chars[-1])
    flush()
    text = " ".join(w.word for w in words)
    if not timestamps:
        return DecodeResult(text, score)
    return DecodeResult(text, score, words, chars)


def check_seconds_per_frame(seconds_per_frame: float) -> None:
    if not seconds_per_frame > 0:
        raise ValueError(f"seconds_per_frame must be positive, got {seconds_per_frame}")


def greedy_decode(
    log_probs: Any,
    vocab: CTCVocab,
    lengths: Any = None,
    *,
    timestamps: bool = False,
    seconds_per_frame: float = SECONDS_PER_FRAME,
) -> DecodeResult | list[DecodeResult]:
    """Best-path CTC decoding.

    Args:
        log_probs: `[frame, vocab]` or `[batch, frame, vocab]` log-probabilities or logits.
        vocab: the model's output vocabulary.
        lengths: `[batch]` valid frames per item (batched input only); default: all frames.
        timestamps: also fill `words` and `chars` of the result.
        seconds_per_frame: duration of one output frame, for the timings in seconds.

    Returns:
        One `DecodeResult` for `[frame, vocab]` input, a list of them for a batch.
    """
    check_seconds_per_frame(seconds_per_frame)
    items, batched = prepare_inputs(log_probs, vocab, lengths)
    results = []
    for lp in items:
        path = lp.argmax(axis=-1)
        score = float(lp[np.arange(len(path)), path].sum())
        results.append(result_from_path(path, vocab, score, timestamps, seconds_per_frame))
    return results if batched else results[0]


def fold_specials(lp: np.ndarray, vocab: CTCVocab) -> np.ndarray:
    """Add the special tokens' probability to the blank's and remove them.

    Greedy decoding drops a special token after merging repeats, exactly as it drops a blank;
    the beam search and the aligner treat them the same way by making them part of the blank.
    """
    if not vocab.special_ids:
        return lp
    ids = [vocab.blank_id, *sorted(vocab.special_ids)]
    lp = lp.copy()
    lp[:, vocab.blank_id] = np.logaddexp.reduce(lp[:, ids], axis=-1)
    lp[:, ids[1:]] = -np.inf
    return lp


def check_blank_offset(offset: float) -> float:
    """`offset` if it is a finite number, else a ValueError naming it."""
    if not np.isfinite(offset):
        raise ValueError(f"blank_offset must be a finite number, got {offset}")
    return offset


def check_temperature(temperature: float) -> float:
    """`temperature` if it is a positive finite number, else a ValueError naming it."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    return temperature


def adjust_frames(
    lp: np.ndarray, blank_id: int, temperature: float = 1.0, blank_offset: float = 0.0
) -> np.ndarray:
    """`[frame, vocab]` log-probs divided by `temperature`, `blank_offset` added to the blank's,
    each frame renormalised once (`lp` itself when neither changes anything).

    Above 1 the temperature flattens the frames: the letters a frame doubts between come closer,
    and a beam search's LM settles more of those doubts (each frame's best token stays its
    best). A negative blank offset makes a decoder readier to emit a letter where the model
    hesitates between it and the blank (a weak model's beam search drops letters otherwise)."""
    check_temperature(temperature)
    check_blank_offset(blank_offset)
    if temperature == 1.0 and blank_offset == 0.0:
        return lp
    lp = np.array(lp, dtype=np.result_type(lp.dtype, np.float32))  # a copy
    if temperature != 1.0:
        lp /= temperature
    lp[:, blank_id] += blank_offset
    return lp - np.logaddexp.reduce(lp, axis=-1, keepdims=True)


def soften(lp: np.ndarray, temperature: float) -> np.ndarray:
    """`adjust_frames` with a temperature alone (no blank needed)."""
    return adjust_frames(lp, 0, temperature=temperature)


def shift_blank(lp: np.ndarray, blank_id: int, offset: float) -> np.ndarray:
    """`adjust_frames` with a blank offset alone."""
    return adjust_frames(lp, blank_id, blank_offset=offset)


def align(lp: np.ndarray, labels: Sequence[int], blank_id: int) -> np.ndarray:
    """The most likely frame path (`[frame]` token ids) that collapses to `labels` (Viterbi)."""
    num_frames = lp.shape[0]
    if len(labels) == 0 or num_frames == 0:
        return np.full(num_frames, blank_id, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    states = np.full(2 * len(labels) + 1, blank_id, dtype=np.int64)  # blank, l1, blank, l2, ...
    states[1::2] = labels
    can_skip = np.zeros(len(states), dtype=bool)  # s may follow s - 2 (a label after a blank)
    can_skip[3::2] = labels[1:] != labels[:-1]
    emit = lp[:, states]  # [frame, state]
    best = np.full(len(states), -np.inf)
    best[:2] = emit[0, :2]
    back = np.zeros((num_frames, len(states)), dtype=np.int8)  # 0: stay, 1: from s-1, 2: s-2
    step, skip = np.full(len(states), -np.inf), np.full(len(states), -np.inf)
    for t in range(1, num_frames):
        step[1:] = best[:-1]
        skip[2:] = np.where(can_skip[2:], best[:-2], -np.inf)
        from_step, from_skip = step > best, skip > np.maximum(best, step)  # ties: stay
        back[t] = np.where(from_skip, 2, from_step)
        best = np.maximum(np.maximum(best, step), skip) + emit[t]
    state = len(states) - 1 if best[-1] >= best[-2] else len(states) - 2
    path = np.empty(num_frames, dtype=np.int64)
    for t in range(num_frames - 1, -1, -1):
        path[t] = states[state]
        state -= int(back[t, state])
    return path


def join_results(parts: list[tuple[int, DecodeResult]], seconds_per_frame: float) -> DecodeResult:
    """One result from the results of consecutive pieces of an input, each with the frame it
    starts at: texts joined by a space, timings moved onto the input's time line (a " " of no
    duration marks each join in `chars`)."""
    texts = [r.text for _, r in parts if r.text]
    score = sum(r.score for _, r in parts)
    if any(r.words is None for _, r in parts):
        return DecodeResult(" ".join(texts), score)

    def moved(t: Any, by: int) -> Any:
        start, end = t.start_frame + by, t.end_frame + by
        spf = seconds_per_frame
        return replace(t, start_frame=start, end_frame=end, start_s=start * spf, end_s=end * spf)

    words = [moved(w, first) for first, r in parts for w in r.words]
    chars: list[CharTiming] | None = None
    if all(r.chars is not None for _, r in parts):
        chars = []
        for first, r in parts:
            if chars and r.chars:
                at = first * seconds_per_frame
                chars.append(CharTiming(" ", first, first, at, at))
            chars += [moved(c, first) for c in r.chars]
    return DecodeResult(" ".join(texts), score, words, chars)
