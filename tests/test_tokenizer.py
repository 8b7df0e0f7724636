"""Wav2Vec2CTCTokenizer against the reference's on edge cases, plus file round trips."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
import transformers

from wav2vec2_conformer.tokenizer import Wav2Vec2CTCTokenizer, build_vocab, word_offsets

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
VOCAB = {
    "<pad>": 0,
    "<s>": 1,
    "</s>": 2,
    "<unk>": 3,
    "|": 4,
    **{c: 5 + i for i, c in enumerate(LETTERS)},
}


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    path.write_text(json.dumps(VOCAB))
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["cased", "lower"])
def pair(request, vocab_file):
    kwargs = {"do_lower_case": request.param}
    return (
        Wav2Vec2CTCTokenizer(vocab_file, **kwargs),
        transformers.Wav2Vec2CTCTokenizer(str(vocab_file), **kwargs),
    )


def plain(x):
    """Reference outputs -> python objects (np.int64 offsets and tensors compare as values)."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return x.tolist()
    return {k: plain(v) for k, v in x.items()} if hasattr(x, "items") else x


TEXTS = [
    "",
    " ",
    "   ",
    "HELLO WORLD",
    "hello world",
    "HeLLo",
    "A  B",  # two spaces: two delimiters
    " A B ",  # leading/trailing space
    "A|B",
    "A||B",
    "BOOKKEEPER",
    "A 1 B",  # unknown character
    "É ß ñ",
    "A\tB\nC",
    "A <unk> B",  # multi-character tokens eat the spaces around them
    "A<s>B</s>",
    "<UNK>",
    "A  <pad>  B",
    "it's",
]


@pytest.mark.parametrize("text", TEXTS)
def test_encode_matches_reference(pair, text):
    ours, ref = pair
    assert ours.tokenize(text) == ref.tokenize(text)
    assert dict(ours(text)) == dict(ref(text))
    assert ours.encode(text) == ref.encode(text)


def test_encode_random_texts_match_reference(pair):
    ours, ref = pair
    rng = random.Random(1)
    parts = [
        "A",
        "b",
        "Z",
        " ",
        "  ",
        "|",
        "<unk>",
        "<s>",
        "</s>",
        "<pad>",
        "\t",
        "1",
        "é",
        "'",
        "<",
    ]
    for _ in range(300):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 10)))
        assert ours.encode(text) == ref.encode(text), repr(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": True},
        {"padding": "longest", "return_tensors": "pt"},
        {"padding": "max_length", "max_length": 12},
        {"padding": True, "pad_to_multiple_of": 4, "return_tensors": "np"},
        {"padding": True, "padding_side": "left"},
        {"padding": True, "truncation": True, "max_length": 3},
        {"padding": True, "return_attention_mask": False},
    ],
)
def test_batch_padding_matches_reference(pair, kwargs):
    ours, ref = pair
    texts = ["AB", "HELLO  WORLD", "", "Z Z"]
    a, b = ours(texts, **kwargs), ref(texts, **kwargs)
    assert plain(a) == plain(b)
    if "return_tensors" in kwargs:
        assert type(a["input_ids"]) is type(b["input_ids"])
        assert a["input_ids"].dtype == b["input_ids"].dtype
    single_a, single_b = ours("ABC", return_tensors="pt"), ref("ABC", return_tensors="pt")
    assert plain(single_a) == plain(single_b)


def _random_ids(rng: random.Random, n: int) -> list[list[int]]:
    pool = [0, 0, 0, 1, 2, 3, 4, 4, 5, 6, 7, 31, 99]  # blanks, specials, delimiters, unknown id 99
    return [[rng.choice(pool) for _ in range(rng.randint(0, 14))] for _ in range(n)]


HAND_IDS = [
    [],
    [0],
    [0, 0, 0],
    [4],
    [4, 4, 0, 4],
    [4, 5, 4, 0, 4, 6, 4],  # leading, trailing and doubled delimiters
    [5, 5, 5],  # repeats merge
    [5, 0, 5],  # a blank between repeats keeps both
    [5, 4, 4, 6],
    [5, 0, 4, 0, 4, 0, 6],
    [1, 5, 2, 3],
    [3, 3],
    [99, 5],
    [0, 0, 12, 12, 9, 0, 16, 16, 0, 16, 19, 4, 4, 27, 19, 22, 16, 8, 0, 4],
]
DECODE_KWARGS = [
    {},
    {"skip_special_tokens": True},
    {"group_tokens": False},
    {"spaces_between_special_tokens": True},
    {"output_char_offsets": True},
    {"output_word_offsets": True},
    {"output_char_offsets": True, "output_word_offsets": True, "skip_special_tokens": True},
    {"output_char_offsets": True, "output_word_offsets": True, "group_tokens": False},
]


@pytest.mark.parametrize("kwargs", DECODE_KWARGS, ids=str)
def test_decode_matches_reference(pair, kwargs):
    ours, ref = pair
    for ids in HAND_IDS + _random_ids(random.Random(0), 150):
        a, b = ours.decode(ids, **kwargs), ref.decode(ids, **kwargs)
        if isinstance(b, str):
            assert a == b, ids
        else:
            assert (a.text, a.char_offsets, a.word_offsets) == (
                b.text,
                b.char_offsets,
                b.word_offsets,
            ), ids


def test_decode_offsets_example(pair):
    ours, _ = pair
    out = ours.decode(HAND_IDS[-1], output_char_offsets=True, output_word_offsets=True)
    assert out.text.upper() == "HELLO WORLD"
    assert out.char_offsets[:2] == [
        {"char": "H", "start_offset": 2, "end_offset": 4},
        {"char": "E", "start_offset": 4, "end_offset": 5},
    ]
    assert out.word_offsets == [
        {"word": "HELLO", "start_offset": 2, "end_offset": 11},
        {"word": "WORLD", "start_offset": 13, "end_offset": 18},
    ]
    assert out["text"] == out.text


@pytest.mark.parametrize("kwargs", [{}, {"output_char_offsets": True, "output_word_offsets": True}])
def test_batch_decode_matches_reference(pair, kwargs):
    ours, ref = pair
    batch = [[5, 5, 0, 6, 4, 7], [8, 0, 8], [4, 9]]
    for seqs in (batch, np.array([x[:2] for x in batch]), torch.tensor([x[:2] for x in batch])):
        a, b = ours.batch_decode(seqs, **kwargs), ref.batch_decode(seqs, **kwargs)
        if kwargs:
            a, b = (
                (a.text, a.char_offsets, a.word_offsets),
                (b.text, b.char_offsets, b.word_offsets),
            )
        assert a == b
    assert ours.decode(torch.tensor([5, 6])) == ref.decode(torch.tensor([5, 6]))
    assert ours.decode(np.array([5, 6])) == ref.decode(np.array([5, 6]))


def test_vocabulary_accessors_match_reference(pair):
    ours, ref = pair
    assert ours.vocab_size == ref.vocab_size and len(ours) == len(ref)
    assert ours.get_vocab() == ref.get_vocab()
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.all_special_ids == ref.all_special_ids
    for name in ["pad", "unk", "bos", "eos", "word_delimiter"]:
        assert getattr(ours, f"{name}_token_id") == getattr(ref, f"{name}_token_id"), name
    tokens = ["A", "zz", "|", "<unk>", "<s>"]
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids("zz") == ref.convert_tokens_to_ids("zz")
    ids = [1, 4, 5, 99, 0]
    for skip in (False, True):
        assert ours.convert_ids_to_tokens(ids, skip) == ref.convert_ids_to_tokens(ids, skip)
    assert ours.convert_ids_to_tokens(99) == ref.convert_ids_to_tokens(99)


def test_pad_as_collator_matches_reference(pair):
    ours, ref = pair
    feats = [{"input_ids": [5, 6, 7]}, {"input_ids": [8]}]
    for kwargs in [{}, {"return_tensors": "pt"}, {"padding": "max_length", "max_length": 5}]:
        assert plain(ours.pad(feats, **kwargs)) == plain(ref.pad(feats, **kwargs))
    assert plain(ours.pad({"input_ids": [5, 6]})) == plain(ref.pad({"input_ids": [5, 6]}))


def test_clean_up_tokenization_spaces(tmp_path, vocab_file):
    config = {"do_lower_case": True, "clean_up_tokenization_spaces": True}
    (tmp_path / "vocab.json").write_text(vocab_file.read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    ref = transformers.Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    ids = ours.encode("it 's ok")
    assert ours.decode(ids) == ref.decode(ids) == "it's ok"  # after lower-casing, as the reference
    assert ours.decode(ids, clean_up_tokenization_spaces=False) == "it 's ok"


def test_special_tokens_outside_the_vocabulary(tmp_path):
    vocab = {"<pad>": 0, "<unk>": 1, "a": 2, "b": 3, "ch": 4, " ": 5}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    ours = Wav2Vec2CTCTokenizer(tmp_path / "vocab.json", word_delimiter_token=" ")
    ref = transformers.Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), word_delimiter_token=" ")
    assert ours.get_vocab() == ref.get_vocab() and len(ours) == len(ref) == 8
    rng = random.Random(2)
    parts = ["a", "b", "c", "h", "ch", " ", "  ", "<s>", "</s>", "<unk>", "x", "A"]
    for _ in range(300):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 10)))
        assert ours.encode(text) == ref.encode(text), repr(text)
    assert ours.decode([6, 2, 4, 4, 5, 3, 7, 1]) == ref.decode([6, 2, 4, 4, 5, 3, 7, 1])
    ours.save_pretrained(tmp_path / "ours")
    assert json.loads((tmp_path / "ours" / "added_tokens.json").read_text()) == {
        "<s>": 6,
        "</s>": 7,
    }
    back = transformers.Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "ours")
    assert back.get_vocab() == ref.get_vocab()
    assert Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "ours").get_vocab() == ref.get_vocab()


def test_save_ours_load_theirs_and_back(tmp_path, vocab_file):
    ours = Wav2Vec2CTCTokenizer(vocab_file, do_lower_case=True, custom_key="kept")
    ours.save_pretrained(tmp_path / "ours")
    names = sorted(p.name for p in (tmp_path / "ours").iterdir())
    assert names == ["special_tokens_map.json", "tokenizer_config.json", "vocab.json"]
    ref = transformers.Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "ours")
    assert ref.do_lower_case and ref.get_vocab() == ours.get_vocab()
    assert ref("hello there")["input_ids"] == ours("hello there")["input_ids"]
    ref.save_pretrained(tmp_path / "theirs")
    ref_config = json.loads((tmp_path / "theirs" / "tokenizer_config.json").read_text())
    our_config = json.loads((tmp_path / "ours" / "tokenizer_config.json").read_text())
    assert our_config["added_tokens_decoder"] == ref_config["added_tokens_decoder"]
    for key in ["bos_token", "model_max_length", "tokenizer_class", "custom_key", "backend"]:
        assert our_config[key] == ref_config[key], key
    for name in ["vocab.json"]:  # byte for byte
        assert (tmp_path / "ours" / name).read_text() == (tmp_path / "theirs" / name).read_text()
    back = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "theirs")
    assert back.do_lower_case and back.extra["custom_key"] == "kept"
    assert back.decode([12, 9, 16, 16, 19]) == "helo"


def test_legacy_folder_with_special_tokens_map(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"[PAD]": 0, "[UNK]": 1, "|": 2, "A": 3}))
    (tmp_path / "special_tokens_map.json").write_text(
        json.dumps({"pad_token": "[PAD]", "unk_token": {"content": "[UNK]", "lstrip": False}})
    )
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": None, "eos_token": None})
    )
    tok = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id) == (0, 1, None)
    assert tok.encode("A B") == [3, 2, 1]
    assert tok.decode([3, 0, 3, 2, 0]) == "AA"


def test_build_vocab(tmp_path):
    texts = ["hello world", "HELLO there's", "  "]
    vocab = build_vocab(texts)
    assert list(vocab)[:5] == ["<pad>", "<s>", "</s>", "<unk>", "|"]
    assert list(vocab.values()) == list(range(len(vocab)))
    assert list(vocab)[5:] == sorted(set("".join(texts)) - {" "})
    upper = build_vocab(texts, do_lower_case=True)
    assert "h" not in upper and "H" in upper
    (tmp_path / "vocab.json").write_text(json.dumps(upper))
    ours = Wav2Vec2CTCTokenizer(vocab=upper, do_lower_case=True)
    ref = transformers.Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), do_lower_case=True)
    assert ours.encode("hello there's") == ref.encode("hello there's")
    assert ours.unk_token_id not in ours.encode("hello there's")
    assert ours.decode(ours.encode("hello world")) == "helo world"  # CTC merges "ll" w/o blank


def test_word_offsets_helper():
    chars = [{"char": c, "start_offset": i, "end_offset": i + 1} for i, c in enumerate(" AB  C ")]
    assert [w["word"] for w in word_offsets(chars)] == ["AB", "C"]
    assert word_offsets(chars)[1] == {"word": "C", "start_offset": 5, "end_offset": 6}
    assert word_offsets([]) == []


def test_bad_input(vocab_file):
    tok = Wav2Vec2CTCTokenizer(vocab_file)
    with pytest.raises(ValueError, match="string"):
        tok([])
    with pytest.raises(ValueError, match="padding=True"):
        tok(["A", "AB"], return_tensors="pt")
    with pytest.raises(ValueError, match="exactly one"):
        Wav2Vec2CTCTokenizer()
