"""CTC prefix beam search with an optional word n-gram model (KenLM) and hotwords.

The search keeps, for each candidate text prefix, the probability of all frame paths that
collapse to it, split by whether the path ends in a blank (`p_b`) or in the prefix's last token
(`p_nb`) (Hannun et al., 2014, "First-Pass Large Vocabulary Continuous Speech Recognition using
Bi-Directional Recurrent DNNs"). Beams are ranked by that acoustic log-probability plus a context
score: for each finished word `alpha * ln P_LM(word | history) + beta`, `unk_offset` for a word
the LM does not know (charged as soon as the spelling leaves the LM's vocabulary), and hotword
bonuses; the end of the utterance adds `alpha * ln P_LM(</s> | history)`. The unknown-word rules
follow pyctcdecode's, the reference's decoder for its `Wav2Vec2ProcessorWithLM`.

One frame is a few NumPy operations over a `[beam, token]` array; Python touches only the beams
that survive. Prefixes that differ only in word delimiters (a leading one, two in a row) are the
same text, so their paths are counted together. Word timings of the best beam come from the most
likely frame path of its tokens (`decoding.align`), read off with the greedy decoder's rules, so
the two decoders time words the same way.
"""

from __future__ import annotations

import bisect
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from .decoding import (
    SECONDS_PER_FRAME,
    CTCVocab,
    DecodeResult,
    align,
    check_seconds_per_frame,
    fold_specials,
    prepare_inputs,
    result_from_path,
)
from .lm import Hotwords, NGramLM, load_lm
from .ngram import ArpaLM

DEFAULT_ALPHA = 0.5  # LM weight when an LM is given
DEFAULT_BETA = 1.0  # word insertion bonus (ln units per word) when an LM is given
DEFAULT_UNK_OFFSET = -10.0  # ln score of a word the LM does not know, when an LM is given
DEFAULT_TOKEN_MIN_LOGP = -5.0  # tokens less likely than this at a frame start no new prefix
UNK_LENGTH = 6  # unknown words longer than this pay proportionally more (as pyctcdecode does)

# per LM: partial word -> the characters that can follow it in a word the LM knows (kept for as
# long as the LM is, so that many calls with one loaded LM share it)
_NEXT_CHARS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _next_chars(lm: NGramLM | ArpaLM, partial: str) -> str:
    """The characters that follow `partial` in the LM's known words (its sorted `unigrams`), as
    one string (smaller than a set: the memo may come to hold every prefix of the LM's words)."""
    memo = _NEXT_CHARS.setdefault(lm, {})
    if partial not in memo:
        words, n = lm.unigrams, len(partial)
        lo = bisect.bisect_left(words, partial)
        hi = bisect.bisect_left(words, partial + "\U0010ffff", lo)
        memo[partial] = "".join(sorted({w[n] for w in words[lo:hi] if len(w) > n}))
    return memo[partial]


class _Prefix:
    """A node of the prefix tree: one candidate text, shared by all beams that extend it."""

    __slots__ = (
        "parent", "token", "last", "words", "partial", "context", "bonus", "state", "children",
        "_end", "_child_bonus",
    )  # fmt: skip

    def __init__(self, parent, token, last, words, partial, context, bonus, state) -> None:
        self.parent: _Prefix | None = parent
        self.token: int = token  # the token this node appended (-1 at the root)
        self.last: int = last  # last emitted token, for CTC's repeat rule (-1: none)
        self.words: tuple[str, ...] = words  # finished words
        self.partial: str = partial  # the word being spelled
        self.context: float = context  # LM, beta, unknown-word and hotword score of `words`
        self.bonus: float = bonus  # context + score of the partial word so far
        self.state: Any = state  # LM state after `words`
        # the same text is always the same node, so a beam can find the beams that extend it
        self.children: dict[int, _Prefix] = {}
        self._end: tuple[float, Any] | None = None  # cache of `_Search.finish_word`
        self._child_bonus: np.ndarray | None = None  # cache of `_Search.child_bonus`

    def labels(self) -> list[int]:
        node, out = self, []
        while node.parent is not None:
            out.append(node.token)
            node = node.parent
        return out[::-1]


class _Search:
    """Scores that depend on the text alone: finished words (LM, beta, unknown words, hotwords)
    and partial words (hotword prefixes, prefixes of no word the LM knows)."""

    def __init__(
        self, vocab, lm: NGramLM | ArpaLM | None, alpha, beta, unk_offset, hotwords
    ) -> None:
        self.vocab, self.lm, self.hot = vocab, lm, hotwords
        self.alpha, self.beta, self.unk_offset = alpha, beta, unk_offset
        self.check_prefixes = lm is not None and lm.unigrams is not None
        self.delimiter = -1 if vocab.delimiter_id is None else vocab.delimiter_id
        self.letters = vocab.letter_ids
        self.token_len = np.array([len(t) for t in vocab.tokens])  # [vocab]
        # the unknown-word score of each token's child of a partial word, by the partial's length
        self._unknown_after: dict[int, np.ndarray] = {}
        self._known_next: dict[str, np.ndarray] = {}  # partial -> [vocab] child still spells a word

    def root(self) -> _Prefix:
        state = self.lm.begin() if self.lm is not None else None
        # a leading delimiter changes no text: treat it like a repeat of a virtual delimiter
        return _Prefix(None, -1, self.delimiter, (), "", 0.0, 0.0, state)

    def unknown(self, word: str) -> float:
        """Score of a word, finished or partial, that the LM does not know."""
        return self.unk_offset * max(1.0, len(word) / UNK_LENGTH)

    def partial_score(self, partial: str) -> float:
        score = self.hot.partial_credit(partial) if self.hot else 0.0
        if self.check_prefixes and partial and not self.lm.is_prefix(partial):
            score += self.unknown(partial)
        return score

    def finish_word(self, node: _Prefix) -> tuple[float, Any]:
        """Score gained by ending `node`'s partial word here (it replaces the partial word's
        score), and the LM state after it."""
        if node._end is None:
            gain, state = 0.0, node.state
            if node.partial:
                if self.lm is not None:
                    logp, state = self.lm.score(node.state, node.partial)
                    gain = self.alpha * logp + self.beta
                    if node.partial not in self.lm:
                        gain += self.unknown(node.partial)
                if self.hot:
                    gain += self.hot.word_bonus(node.partial)
            node._end = (gain, state)
        return node._end

    def child(self, node: _Prefix, token: int) -> _Prefix:
        if token in node.children:
            return node.children[token]
        if token == self.delimiter:
            gain, state = self.finish_word(node)
            words = (*node.words, node.partial) if node.partial else node.words
            context = node.context + gain
            new = _Prefix(node, token, token, words, "", context, context, state)
        else:
            partial = node.partial + self.vocab.tokens[token]
            bonus = node.context + self.partial_score(partial)
            new = _Prefix(node, token, token, node.words, partial, node.context, bonus, node.state)
        node.children[token] = new
        return new

    def unknown_after(self, partial: str) -> np.ndarray:
        """[vocab] `unknown` of `partial` extended by each token."""
        n = len(partial)
        if n not in self._unknown_after:
            lengths = n + self.token_len
            self._unknown_after[n] = self.unk_offset * np.maximum(1.0, lengths / UNK_LENGTH)
        return self._unknown_after[n]

    def known_next(self, partial: str) -> np.ndarray:
        """[vocab] whether `partial` extended by each letter still begins a known word."""
        if partial not in self._known_next:
            ok = np.zeros(len(self.vocab), dtype=bool)
            follow = _next_chars(self.lm, partial)
            for tok in self.letters:
                t = self.vocab.tokens[tok]
                ok[tok] = t[0] in follow and (len(t) == 1 or self.lm.is_prefix(partial + t))
            self._known_next[partial] = ok
        return self._known_next[partial]

    def child_bonus(self, node: _Prefix) -> np.ndarray:
        """[vocab] the `bonus` that each child of `node` has (or would have)."""
        if node._child_bonus is None:
            partial = node.partial
            out = np.full(len(self.vocab), node.context)
            if self.check_prefixes:  # children that leave the LM's words pay as unknown ones
                unknown = self.unknown_after(partial)
                if self.lm.is_prefix(partial):
                    out += np.where(self.known_next(partial), 0.0, unknown)
                else:
                    out += unknown
            if self.hot and self.hot.is_prefix(partial):
                for tok in self.letters:
                    out[tok] += self.hot.partial_credit(partial + self.vocab.tokens[tok])
            if self.delimiter >= 0:
                out[self.delimiter] = node.context + self.finish_word(node)[0]
            node._child_bonus = out
        return node._child_bonus

    def final_score(self, node: _Prefix) -> tuple[tuple[str, ...], float]:
        """The finished text of `node` and its context score at the end of the utterance."""
        gain, state = self.finish_word(node)
        end = self.alpha * self.lm.score_end(state) if self.lm is not None else 0.0
        words = (*node.words, node.partial) if node.partial else node.words
        return words, node.context + gain + end


def _search(
    lp: np.ndarray, search: _Search, beam_size: int, beam_prune_logp: float, token_min_logp: float
) -> tuple[list[int], tuple[str, ...], float]:
    """Prefix beam search over one utterance's `[frame, vocab]` log-probs (specials folded into
    the blank). Returns the best beam's tokens, words and total score."""
    blank, delim = search.vocab.blank_id, search.delimiter
    beams = [search.root()]
    p_b, p_nb = np.zeros(1), np.full(1, -np.inf)  # log P(paths ending in blank / in last token)
    for frame in lp:
        # candidate tokens for a new character: likely enough, or the frame's best
        keep = frame >= token_min_logp
        keep[frame.argmax()] = True
        keep[blank] = False
        cols = np.flatnonzero(keep)  # [K]
        last = np.array([b.last for b in beams])  # [B]
        p_any = np.logaddexp(p_b, p_nb)
        new_b = p_any + frame[blank]
        new_nb = p_nb + np.where(last >= 0, frame[last], -np.inf)  # repeat the last token
        # [B, K] extend each beam by each candidate; after its own last token only via a blank
        is_last = last[:, None] == cols[None, :]
        ext = np.where(is_last, p_b[:, None], p_any[:, None]) + frame[cols][None, :]
        col_of = {int(c): k for k, c in enumerate(cols)}
        k_delim = col_of.get(delim)
        if k_delim is not None:  # a delimiter after a delimiter leaves the text as it is
            again = last == delim
            new_nb[again] = np.logaddexp(new_nb[again], ext[again, k_delim])
            ext[again, k_delim] = -np.inf
        # an extension that is already a beam adds its paths to that beam
        row_of = {id(b): i for i, b in enumerate(beams)}
        for j, b in enumerate(beams):
            i = row_of.get(id(b.parent))
            k = col_of.get(b.token)
            if i is not None and k is not None:
                new_nb[j] = np.logaddexp(new_nb[j], ext[i, k])
                ext[i, k] = -np.inf
        # rank by acoustic + context score, of the beam's text or of the extended one
        stay = np.logaddexp(new_b, new_nb) + [b.bonus for b in beams]
        grow = ext + np.stack([search.child_bonus(b) for b in beams])[:, cols]
        scores = np.concatenate((stay, grow.ravel()))
        n = min(beam_size, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] >= scores[top[0]] + beam_prune_logp]
        new_beams, b_out, nb_out = [], [], []
        for idx in top.tolist():
            if idx < len(beams):
                new_beams.append(beams[idx])
                b_out.append(new_b[idx])
                nb_out.append(new_nb[idx])
            else:
                i, k = divmod(idx - len(beams), len(cols))
                new_beams.append(search.child(beams[i], int(cols[k])))
                b_out.append(-np.inf)
                nb_out.append(ext[i, k])
        beams, p_b, p_nb = new_beams, np.array(b_out), np.array(nb_out)
    # the end of the utterance finishes the last word; texts that became equal are merged
    finals: dict[tuple[str, ...], tuple[float, float, _Prefix]] = {}
    for b, pb, pnb in zip(beams, p_b, p_nb, strict=True):
        words, ctx = search.final_score(b)
        acoustic = float(np.logaddexp(pb, pnb))
        if words in finals:
            other, _, node = finals[words]
            node = b if acoustic > other else node
            acoustic = float(np.logaddexp(acoustic, other))
        else:
            node = b
        finals[words] = (acoustic, ctx, node)
    words, (acoustic, ctx, node) = max(finals.items(), key=lambda kv: kv[1][0] + kv[1][1])
    return node.labels(), words, acoustic + ctx


def _check_hotwords(hot: Hotwords, vocab: CTCVocab) -> None:
    pieces = [vocab.tokens[i] for i in vocab.letter_ids]
    for word in sorted(hot.words):
        spellable = [True] + [False] * len(word)  # spellable[i]: word[:i] is a token sequence
        for i in range(1, len(word) + 1):
            spellable[i] = any(
                word[:i].endswith(p) and spellable[i - len(p)] for p in pieces if len(p) <= i
            )
        if not spellable[-1]:
            raise ValueError(
                f"hotword {word!r} cannot be spelled with the vocabulary's tokens "
                f"(letters are case-sensitive; the vocabulary has {''.join(sorted(pieces))!r})"
            )


def beam_search_decode(
    log_probs: Any,
    vocab: CTCVocab,
    lengths: Any = None,
    *,
    beam_size: int = 32,
    lm: str | Path | NGramLM | ArpaLM | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    unk_offset: float | None = None,
    hotwords: list[str] | tuple[str, ...] = (),
    hotword_weight: float = 10.0,
    beam_prune_logp: float = -10.0,
    token_min_logp: float | None = None,
    timestamps: bool = False,
    seconds_per_frame: float = SECONDS_PER_FRAME,
) -> DecodeResult | list[DecodeResult]:
    """CTC prefix beam search, optionally with a word n-gram LM and hotwords.

    Args:
        log_probs: `[frame, vocab]` or `[batch, frame, vocab]` log-probabilities or logits.
        vocab: the model's output vocabulary. Special tokens count as blanks.
        lengths: `[batch]` valid frames per item (batched input only); default: all frames.
        beam_size: beams kept after each frame; 1 keeps only the best prefix.
        lm: an n-gram LM: an ARPA or KenLM binary path (see `lm.load_lm`), or a loaded
            `NGramLM` / `ngram.ArpaLM` to reuse across calls.
            Words are the vocabulary's tokens between delimiters, case as in the vocabulary.
        alpha: weight of the LM's natural-log probability; default 0.5. Only with `lm`.
        beta: bonus per word, natural-log units, against the LM's cost per word; default 1.0.
            Only with `lm`.
        unk_offset: added (natural-log units) for each word the LM does not know, and as soon as
            a partial word begins no word of the LM's vocabulary (when the LM's unigrams are
            known, see `NGramLM`); words longer than 6 tokens pay `unk_offset * len / 6`.
            Default -10.0. Only with `lm`.
        hotwords: words (or phrases, split into words) to favour, spelled in the vocabulary's
            case; each finished hotword earns `hotword_weight`, its prefixes a share of it.
        hotword_weight: natural-log bonus of a finished hotword.
        beam_prune_logp: drop beams scoring this much below the best one (<= 0).
        token_min_logp: at each frame, only tokens at least this likely (and the best one) start
            new prefixes (<= 0; -inf considers every token); default -5.0 (pyctcdecode's). A
            weak acoustic model gains from a lower one: the bundled model's LM settings use -12.
        timestamps: also fill `words` and `chars` of the result (for the best beam).
        seconds_per_frame: duration of one output frame, for the timings in seconds.

    Returns:
        One `DecodeResult` for `[frame, vocab]` input, a list of them for a batch; `score` is the
        beam's total: acoustic log-probability plus LM, word and hotword scores.
    """
    check_seconds_per_frame(seconds_per_frame)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive integer, got {beam_size!r}")
    token_min_logp = DEFAULT_TOKEN_MIN_LOGP if token_min_logp is None else float(token_min_logp)
    if not beam_prune_logp <= 0 or not token_min_logp <= 0:
        raise ValueError(
            f"beam_prune_logp and token_min_logp must be <= 0, got {beam_prune_logp} and "
            f"{token_min_logp}"
        )
    if isinstance(hotwords, str):
        raise ValueError("hotwords must be a list of words, not one string")
    if lm is None and (alpha is not None or beta is not None or unk_offset is not None):
        raise ValueError("alpha, beta and unk_offset weight the language model: pass lm= as well")
    if (lm is not None or hotwords) and vocab.word_delimiter is None:
        raise ValueError("a language model or hotwords need a vocabulary with a word delimiter")
    if isinstance(lm, str | os.PathLike):
        lm = load_lm(lm)
    alpha = DEFAULT_ALPHA if alpha is None else float(alpha)
    beta = DEFAULT_BETA if beta is None else float(beta)
    unk_offset = DEFAULT_UNK_OFFSET if unk_offset is None else float(unk_offset)
    hot = Hotwords(hotwords, hotword_weight)
    _check_hotwords(hot, vocab)
    items, batched = prepare_inputs(log_probs, vocab, lengths)
    search = _Search(vocab, lm, alpha, beta, unk_offset, hot)
    results = []
    for lp in items:
        lp = fold_specials(lp, vocab)
        labels, words, score = _search(lp, search, beam_size, beam_prune_logp, token_min_logp)
        if timestamps:
            path = align(lp, labels, vocab.blank_id)
            result = result_from_path(path, vocab, score, True, seconds_per_frame)
        else:
            result = DecodeResult(" ".join(words), score)
        results.append(result)
    return results if batched else results[0]
