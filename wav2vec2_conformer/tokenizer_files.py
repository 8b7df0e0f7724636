"""The tokenizer's files, in the reference's layout: what is written and how it is read back.

A folder holds `vocab.json` (token -> id; with `target_lang`, one such map per language),
`tokenizer_config.json` (options, special tokens, the added-tokens table),
`special_tokens_map.json` and, only when a special token is missing from the vocabulary,
`added_tokens.json`. Older folders keep the special tokens in `special_tokens_map.json` alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wav2vec2_conformer.fileio import atomic_write_text

if TYPE_CHECKING:
    from wav2vec2_conformer.tokenizer import Wav2Vec2CTCTokenizer

VOCAB_NAME = "vocab.json"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_NAME = "special_tokens_map.json"
ADDED_TOKENS_NAME = "added_tokens.json"
VERY_LARGE_INTEGER = int(1e30)  # the reference's model_max_length for "no limit"
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


def tokenizer_config(tok: Wav2Vec2CTCTokenizer) -> dict[str, Any]:
    """The `tokenizer_config.json` contents, as the reference writes them."""
    decoder = {}
    for token in sorted(tok._unsplit, key=tok.convert_tokens_to_ids):
        strip = token in tok._strips
        decoder[str(tok.convert_tokens_to_ids(token))] = {
            "content": token,
            "lstrip": strip,
            "normalized": False,
            "rstrip": strip,
            "single_word": False,
            "special": not strip,
        }
    config = {
        "model_max_length": VERY_LARGE_INTEGER,
        **tok.extra,
        "added_tokens_decoder": decoder,
        "backend": "custom",
        **{key: getattr(tok, key) for key in SPECIAL_TOKEN_KEYS},
        "word_delimiter_token": tok.word_delimiter_token,
        "replace_word_delimiter_char": tok.replace_word_delimiter_char,
        "do_lower_case": tok.do_lower_case,
        "target_lang": tok.target_lang,
        "tokenizer_class": type(tok).__name__,
    }
    if tok.clean_up_tokenization_spaces:
        config["clean_up_tokenization_spaces"] = True
    if tok.padding_side != "right":
        config["padding_side"] = tok.padding_side
    return config


def save(
    tok: Wav2Vec2CTCTokenizer,
    save_directory: str | os.PathLike,
    extra_config: Mapping[str, Any] | None = None,
) -> tuple[str, ...]:
    """Write the folder's files, each atomically; `extra_config` adds keys to
    tokenizer_config.json. Returns the paths written."""
    os.makedirs(save_directory, exist_ok=True)
    files = {
        VOCAB_NAME: tok.vocab,
        TOKENIZER_CONFIG_NAME: {**tokenizer_config(tok), **(extra_config or {})},
        SPECIAL_TOKENS_MAP_NAME: {
            k: getattr(tok, k) for k in SPECIAL_TOKEN_KEYS if getattr(tok, k) is not None
        },
    }
    if tok.added_tokens_encoder:
        files[ADDED_TOKENS_NAME] = tok.added_tokens_encoder
    paths = []
    for name, content in files.items():
        paths.append(os.path.join(save_directory, name))
        text = json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write_text(paths[-1], text)
    return tuple(paths)


def read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """(vocab, constructor options) from a folder saved by us or by the reference."""
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, VOCAB_NAME)):
        raise FileNotFoundError(f"{path}: no {VOCAB_NAME}")
    config = read_json(os.path.join(path, TOKENIZER_CONFIG_NAME)) or {}
    special_map = read_json(os.path.join(path, SPECIAL_TOKENS_MAP_NAME)) or {}
    for key in SPECIAL_TOKEN_KEYS:  # older folders keep them in special_tokens_map.json
        if key in special_map and key not in config:
            config[key] = special_map[key]
    vocab = read_json(os.path.join(path, VOCAB_NAME))
    base = vocab[config["target_lang"]] if config.get("target_lang") else vocab
    added = {
        entry["content"]: int(i)
        for i, entry in config.get("added_tokens_decoder", {}).items()
        if entry["content"] not in base
    }
    added_file = read_json(os.path.join(path, ADDED_TOKENS_NAME)) or {}
    added.update({k: v for k, v in added_file.items() if k not in base})
    config.setdefault("added_tokens", added)
    return vocab, config


def read_json(path: str) -> Any:
    """The parsed file, or None when it does not exist."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
