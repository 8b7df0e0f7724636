"""Character vocabulary for CTC: text -> ids for training labels, ids -> text (and offsets) after.

`Wav2Vec2CTCTokenizer` keeps the reference's name, files (`vocab.json`, `tokenizer_config.json`,
`special_tokens_map.json`, `added_tokens.json` when a special token is missing from the vocabulary)
and behaviour, edge cases included:

- encoding: spaces become the word delimiter "|" (one per space, nothing collapsed); vocabulary
  tokens longer than one character ("<unk>", "<s>", ...) are matched whole in the text and eat the
  whitespace around them; unknown characters map to "<unk>"; `do_lower_case=True` upper-cases the
  text before lookup (the vocabulary is upper case) and lower-cases decoded text.
- decoding: repeated ids are merged (`group_tokens`), then the pad token (the CTC blank) is
  dropped, the delimiter becomes `replace_word_delimiter_char`, and the text is stripped.
  `skip_special_tokens=True` drops specials other than the delimiter *before* merging, so
  [A, <pad>, A] decodes to "A" with it and "AA" without (as the reference does).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wav2vec2_conformer import tokenizer_files
from wav2vec2_conformer.ctc_text import (  # noqa: F401 (build_vocab: re-exported)
    Offsets,
    build_vocab,
    clean_up_tokenization,
    ctc_char_offsets,
    word_offsets,
)
from wav2vec2_conformer.feature_extraction import BatchFeature
from wav2vec2_conformer.id_padding import pad_ids, to_list
from wav2vec2_conformer.outputs import ModelOutput
from wav2vec2_conformer.tokenizer_files import SPECIAL_TOKEN_KEYS

# Keys the reference writes into tokenizer_config.json about itself or its loading; we drop them.
_DROPPED_KEYS = set(
    "added_tokens_decoder tokenizer_class backend model_specific_special_tokens name_or_path "
    "is_local local_files_only tokenizer_file vocab_file".split()
)


@dataclass
class Wav2Vec2CTCTokenizerOutput(ModelOutput):
    """Decoded text with optional offsets, counted in logit frames.

    char_offsets: [{"char": "H", "start_offset": 2, "end_offset": 4}, ...]
    word_offsets: [{"word": "HELLO", "start_offset": 2, "end_offset": 11}, ...]
    """

    text: str | list[str]
    char_offsets: Offsets | list[Offsets] | None = None
    word_offsets: Offsets | list[Offsets] | None = None


class Wav2Vec2CTCTokenizer:
    """CTC character tokenizer (see the module docstring for the exact rules).

    Args:
        vocab_file: path to `vocab.json` (token -> id); or pass `vocab=` directly.
        bos_token, eos_token, unk_token, pad_token: special tokens; pad is the CTC blank.
        word_delimiter_token: token standing for a space between words.
        replace_word_delimiter_char: what the delimiter becomes when decoding.
        do_lower_case: upper-case text before encoding, lower-case text after decoding.
        target_lang: key into a nested (multilingual) vocabulary.
        vocab: the vocabulary as a dict, instead of `vocab_file`.
        added_tokens: special tokens outside the vocabulary, token -> id (from saved files).
        clean_up_tokenization_spaces: apply the reference's " ." -> "." style clean-up.
        padding_side: "right" or "left" for batches.
        **extra: other keys of a saved `tokenizer_config.json`; kept and written back.
    """

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        bos_token: str | None = "<s>",
        eos_token: str | None = "</s>",
        unk_token: str | None = "<unk>",
        pad_token: str | None = "<pad>",
        word_delimiter_token: str | None = "|",
        replace_word_delimiter_char: str = " ",
        do_lower_case: bool = False,
        target_lang: str | None = None,
        *,
        vocab: Mapping[str, Any] | None = None,
        added_tokens: Mapping[str, int] | None = None,
        clean_up_tokenization_spaces: bool = False,
        padding_side: str = "right",
        **extra: Any,
    ) -> None:
        if (vocab is None) == (vocab_file is None):
            raise ValueError("pass exactly one of vocab_file and vocab")
        if vocab is None:
            with open(vocab_file, encoding="utf-8") as f:
                vocab = json.load(f)
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        self.vocab = dict(vocab)
        self.encoder: dict[str, int] = dict(self.vocab[target_lang] if target_lang else self.vocab)
        self.decoder: dict[int, str] = {v: k for k, v in self.encoder.items()}
        self.bos_token, self.eos_token = _content(bos_token), _content(eos_token)
        self.unk_token, self.pad_token = _content(unk_token), _content(pad_token)
        self.word_delimiter_token = _content(word_delimiter_token)
        self.replace_word_delimiter_char = replace_word_delimiter_char
        self.do_lower_case = do_lower_case
        self.target_lang = target_lang
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.padding_side = padding_side
        for key in _DROPPED_KEYS:
            extra.pop(key, None)
        self.extra = extra

        # Special tokens missing from the vocabulary get new ids after it, in this order.
        self.added_tokens_encoder: dict[str, int] = dict(added_tokens or {})
        for token in self.all_special_tokens:
            if token not in self.encoder and token not in self.added_tokens_encoder:
                self.added_tokens_encoder[token] = len(self.get_vocab())
        self.added_tokens_decoder = {v: k for k, v in self.added_tokens_encoder.items()}
        # Tokens matched whole in the text; vocabulary tokens longer than one character also
        # swallow the whitespace on both sides (the reference adds them with lstrip/rstrip).
        self._unsplit = {*self.all_special_tokens, *self.added_tokens_encoder}
        self._unsplit |= {t for t in self.encoder if len(t) > 1}
        self._strips = {t for t in self._unsplit if t in self.encoder and len(t) > 1}
        pattern = "|".join(re.escape(t) for t in sorted(self._unsplit, key=len, reverse=True))
        self._split_re = re.compile(pattern) if pattern else None

    # ---- vocabulary ---------------------------------------------------------------------------

    @property
    def all_special_tokens(self) -> list[str]:
        tokens = [getattr(self, k) for k in SPECIAL_TOKEN_KEYS] + [self.word_delimiter_token]
        return list(dict.fromkeys(t for t in tokens if t is not None))

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def vocab_size(self) -> int:
        """Distinct ids of the base vocabulary (without added tokens), as the reference."""
        return len(self.decoder)

    def __len__(self) -> int:
        return len(self.get_vocab())

    def get_vocab(self) -> dict[str, int]:
        return {**self.encoder, **self.added_tokens_encoder}

    def _token_id(self, token: str | None) -> int | None:
        return None if token is None else self.convert_tokens_to_ids(token)

    pad_token_id = property(lambda self: self._token_id(self.pad_token))
    unk_token_id = property(lambda self: self._token_id(self.unk_token))
    bos_token_id = property(lambda self: self._token_id(self.bos_token))
    eos_token_id = property(lambda self: self._token_id(self.eos_token))
    word_delimiter_token_id = property(lambda self: self._token_id(self.word_delimiter_token))

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        if isinstance(tokens, str):
            if tokens in self.added_tokens_encoder:
                return self.added_tokens_encoder[tokens]
            if tokens in self.encoder:
                return self.encoder[tokens]
            unk = self.unk_token
            return self.added_tokens_encoder.get(unk, self.encoder.get(unk))
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int], skip_special_tokens: bool = False
    ) -> str | list[str]:
        """Unknown ids become the unk token; `skip_special_tokens` also drops the delimiter."""
        if isinstance(ids, (int, np.integer)):
            ids = int(ids)
            return self.decoder.get(ids, self.added_tokens_decoder.get(ids, self.unk_token))
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self.convert_ids_to_tokens(int(i)) for i in ids if int(i) not in skip]

    # ---- encoding -----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        # Split off unsplittable tokens (leftmost-longest): [[piece, is_token], ...].
        pieces: list[list[Any]] = []
        start = 0
        for m in self._split_re.finditer(text) if self._split_re else ():
            pieces += [[text[start : m.start()], False]] if m.start() > start else []
            pieces.append([m.group(), True])
            start = m.end()
        pieces += [[text[start:], False]] if start < len(text) else []
        # Multi-character vocabulary tokens strip their neighbours, whatever those are.
        for i, (piece, is_token) in enumerate(pieces):
            if is_token and piece in self._strips:
                if i > 0:
                    pieces[i - 1][0] = pieces[i - 1][0].rstrip()
                if i + 1 < len(pieces):
                    pieces[i + 1][0] = pieces[i + 1][0].lstrip()
        tokens: list[str] = []
        for piece, is_token in pieces:
            if is_token and piece:
                tokens.append(piece)
            elif piece:
                piece = piece.upper() if self.do_lower_case else piece
                tokens.extend(piece.replace(" ", self.word_delimiter_token or " "))
        return tokens

    def encode(self, text: str) -> list[int]:
        """Ids of `text`; no special tokens are added (CTC labels are just the characters)."""
        return self.convert_tokens_to_ids(self.tokenize(text))

    def __call__(
        self,
        text: str | Sequence[str],
        padding: bool | str = False,
        truncation: bool = False,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Encode one text or a batch -> `input_ids` and `attention_mask`.

        Without `return_tensors`, one text gives flat lists and a batch lists of lists; with
        "pt" / "np" a batch axis is always present. `truncation=True` without `max_length`
        does nothing (the tokenizer has no length limit).
        """
        single = isinstance(text, str)
        if not single and not (
            isinstance(text, (list, tuple)) and text and all(isinstance(t, str) for t in text)
        ):
            raise ValueError(
                f"text must be a string or a non-empty list of strings, got {text!r:.80}"
            )
        ids = [self.encode(t) for t in ([text] if single else text)]
        if truncation and max_length is not None:
            ids = [x[:max_length] for x in ids]
        out = self.pad(
            {"input_ids": ids},
            padding=padding,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
        )
        if single and return_tensors is None:
            out = BatchFeature({k: v[0] for k, v in out.items()})
        return out

    def pad(
        self,
        encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Pad a batch of `input_ids` (dict of lists, or list of dicts as in a data collator);
        see `id_padding.pad_ids`."""
        return pad_ids(
            encoded_inputs,
            self.pad_token_id,
            padding=padding,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            left=(padding_side or self.padding_side) == "left",
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
        )

    # ---- decoding -----------------------------------------------------------------------------

    def decode(
        self,
        token_ids: int | Sequence[int] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
    ) -> str | Wav2Vec2CTCTokenizerOutput:
        """CTC ids (list, array or tensor of frame-wise argmaxes) -> text.

        With `output_char_offsets` / `output_word_offsets` returns a `Wav2Vec2CTCTokenizerOutput`
        whose offsets count logit frames (multiply by the model's samples per frame / rate
        for seconds).
        """
        tokens = self.convert_ids_to_tokens(to_list(token_ids))
        if skip_special_tokens:
            special = set(self.all_special_tokens) - {self.word_delimiter_token}
            tokens = [t for t in tokens if t not in special]
        out = self.convert_tokens_to_string(
            tokens,
            group_tokens=group_tokens,
            spaces_between_special_tokens=spaces_between_special_tokens,
            output_char_offsets=output_char_offsets,
            output_word_offsets=output_word_offsets,
        )
        text = out["text"]
        if (
            clean_up_tokenization_spaces
            if clean_up_tokenization_spaces is not None
            else self.clean_up_tokenization_spaces
        ):
            text = clean_up_tokenization(text)
        if output_char_offsets or output_word_offsets:
            return Wav2Vec2CTCTokenizerOutput(text, out["char_offsets"], out["word_offsets"])
        return text

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
        **kwargs: Any,
    ) -> list[str] | Wav2Vec2CTCTokenizerOutput:
        """`decode` each sequence; with offsets, one output holding lists (text, offsets)."""
        decoded = [
            self.decode(
                seq,
                skip_special_tokens=skip_special_tokens,
                clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                output_char_offsets=output_char_offsets,
                output_word_offsets=output_word_offsets,
                **kwargs,
            )
            for seq in sequences
        ]
        if not (output_char_offsets or output_word_offsets):
            return decoded
        return Wav2Vec2CTCTokenizerOutput(
            text=[d.text for d in decoded],
            char_offsets=[d.char_offsets for d in decoded] if output_char_offsets else None,
            word_offsets=[d.word_offsets for d in decoded] if output_word_offsets else None,
        )

    def convert_tokens_to_string(
        self,
        tokens: list[str],
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
    ) -> dict[str, Any]:
        """CTC tokens -> {"text", "char_offsets", "word_offsets"} (offsets None unless asked)."""
        if not tokens:
            return {"text": "", "char_offsets": [], "word_offsets": []}
        char_offsets = ctc_char_offsets(
            tokens,
            self.pad_token,
            self.word_delimiter_token,
            self.replace_word_delimiter_char,
            group_tokens,
        )
        chars = [c["char"] for c in char_offsets]
        text = (" " if spaces_between_special_tokens else "").join(chars).strip()
        if self.do_lower_case:
            text = text.lower()
        words = None
        if output_word_offsets:
            words = word_offsets(char_offsets, self.replace_word_delimiter_char)
        return {
            "text": text,
            "char_offsets": char_offsets if output_char_offsets else None,
            "word_offsets": words,
        }

    # ---- saving and loading (the file formats live in tokenizer_files) ----------------------

    def to_config(self) -> dict[str, Any]:
        """The `tokenizer_config.json` contents, as the reference writes them."""
        return tokenizer_files.tokenizer_config(self)

    def save_pretrained(
        self, save_directory: str | os.PathLike, extra_config: Mapping[str, Any] | None = None
    ) -> tuple[str, ...]:
        """Write the tokenizer's files (see `tokenizer_files.save`), each atomically;
        `extra_config` adds keys to tokenizer_config.json (the processor adds its class)."""
        return tokenizer_files.save(self, save_directory, extra_config)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> Wav2Vec2CTCTokenizer:
        """Load from a folder saved by this class or the reference; `overrides` win."""
        vocab, config = tokenizer_files.read(path)
        return cls(vocab=vocab, **{**config, **overrides})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, "
            f"do_lower_case={self.do_lower_case}, word_delimiter={self.word_delimiter_token!r})"
        )


def _content(token: Any) -> str | None:
    """A special token as saved: a string, or a dict {"content": ...} (serialised AddedToken)."""
    return token["content"] if isinstance(token, Mapping) else token
