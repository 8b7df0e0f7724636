"""Pure functions between CTC character tokens and text, shared by the tokenizer and training.

- `build_vocab`: the character vocabulary of a set of transcripts, in the released
  checkpoints' layout.
- `ctc_char_offsets`: frame-wise tokens -> characters with the frames each covers (repeats
  merged, blanks dropped, the word delimiter replaced).
- `word_offsets`: characters -> words with their frames.
- `clean_up_tokenization`: the reference's optional clean-up of spaces before punctuation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

Offsets = list[dict[str, Any]]

# The reference's clean-up, in its order: " ." -> ".", ..., " ' " -> "'", " n't" -> "n't", ...
_CLEAN_UPS = [
    (" " + s, s.strip()) for s in (".", "?", "!", ",", "' ", "n't", "'m", "'s", "'ve", "'re")
]


def build_vocab(
    texts: Iterable[str],
    do_lower_case: bool = False,
    word_delimiter_token: str = "|",
) -> dict[str, int]:
    """A CTC vocabulary for the characters in `texts`.

    Order (ids): 0 "<pad>" (also the CTC blank), 1 "<s>", 2 "</s>", 3 "<unk>", 4 the word
    delimiter "|" (spaces in the text), then every other character in sorted (code point)
    order. This matches the layout of the released English checkpoints' special tokens, so
    `Wav2Vec2CTCTokenizer(vocab=...)` here and the reference's tokenizer on the saved vocab.json
    give the same ids. With `do_lower_case=True` characters are collected upper-cased, as the
    tokenizer upper-cases text before lookup.
    """
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, word_delimiter_token: 4}
    chars = set()
    for text in texts:
        chars.update(text.upper() if do_lower_case else text)
    chars -= {" ", word_delimiter_token}
    for c in sorted(c for c in chars if c not in vocab):
        vocab[c] = len(vocab)
    return vocab


def ctc_char_offsets(
    tokens: Sequence[str],
    blank: str | None,
    word_delimiter: str | None,
    replacement: str = " ",
    group_tokens: bool = True,
) -> Offsets:
    """[{"char", "start_offset", "end_offset"}] for frame-wise `tokens` (offsets in frames).

    With `group_tokens` repeats are merged first, so a kept token covers all its frames; the
    `blank` is dropped after merging and `word_delimiter` becomes `replacement`.
    """
    if group_tokens:
        groups = [(t, len(list(g))) for t, g in groupby(tokens)]
    else:
        groups = [(t, 1) for t in tokens]
    out: Offsets = []
    end = 0
    for token, count in groups:
        start, end = end, end + count
        if token != blank:
            char = replacement if token == word_delimiter else token
            out.append({"char": char, "start_offset": start, "end_offset": end})
    return out


def word_offsets(char_offsets: Offsets, word_delimiter_char: str = " ") -> Offsets:
    """Group character offsets into words separated by `word_delimiter_char`."""
    words: Offsets = []
    for is_space, group in groupby(char_offsets, key=lambda c: c["char"] == word_delimiter_char):
        if not is_space:
            group = list(group)
            words.append(
                {
                    "word": "".join(c["char"] for c in group),
                    "start_offset": group[0]["start_offset"],
                    "end_offset": group[-1]["end_offset"],
                }
            )
    return words


def clean_up_tokenization(text: str) -> str:
    """The reference's clean-up of spaces before punctuation and English contractions."""
    for before, after in _CLEAN_UPS:
        text = text.replace(before, after)
    return text
