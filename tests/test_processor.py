"""Wav2Vec2Processor against the reference's: calls, padding for training, and folder formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers

from wav2vec2_conformer.feature_extraction import Wav2Vec2FeatureExtractor
from wav2vec2_conformer.processor import Wav2Vec2Processor
from wav2vec2_conformer.tokenizer import Wav2Vec2CTCTokenizer, build_vocab

RNG = np.random.default_rng(0)
A = RNG.standard_normal(30).astype(np.float32)
B = RNG.standard_normal(18).astype(np.float32)
TEXTS = ["HELLO WORLD", "A B"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A processor folder written by the reference."""
    path = tmp_path_factory.mktemp("ref")
    (path / "vocab.json").write_text(json.dumps(build_vocab(TEXTS + ["xyz"])))
    tok = transformers.Wav2Vec2CTCTokenizer(str(path / "vocab.json"))
    fe = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True)
    transformers.Wav2Vec2Processor(fe, tok).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pair(folder):
    return (
        Wav2Vec2Processor.from_pretrained(folder),
        transformers.Wav2Vec2Processor.from_pretrained(folder),
    )


def plain(x):
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return x.tolist()
    if isinstance(x, list):
        return [plain(v) for v in x]
    return {k: plain(v) for k, v in x.items()} if hasattr(x, "items") else x


def assert_close(a, b):
    a, b = plain(a), plain(b)
    assert a.keys() == b.keys()
    for key in a:
        if key == "input_values":
            for x, y in zip(a[key], b[key], strict=True):
                np.testing.assert_allclose(x, y, atol=1e-6)
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize(
    "inputs",
    [
        {"audio": A, "sampling_rate": 16000},
        {"audio": [A, B], "sampling_rate": 16000, "padding": True, "return_tensors": "pt"},
        {"text": "HELLO WORLD"},
        {"text": TEXTS, "padding": True, "return_tensors": "pt"},
        {"audio": [A, B], "text": TEXTS, "sampling_rate": 16000},
        {
            "audio": [A, B],
            "text": TEXTS,
            "sampling_rate": 16000,
            "padding": True,
            "return_tensors": "pt",
        },
    ],
    ids=["audio", "audio batch", "text", "text batch", "both", "both padded"],
)
def test_call_matches_reference(pair, inputs):
    ours, ref = pair
    a, b = ours(**inputs), ref(**inputs)
    assert_close(a, b)
    if "return_tensors" in inputs:
        assert {k: v.dtype for k, v in a.items()} == {k: v.dtype for k, v in b.items()}


def test_call_errors(pair):
    ours, _ = pair
    with pytest.raises(ValueError, match="audio, text or both"):
        ours()
    with pytest.raises(ValueError, match="8000 Hz"):
        ours(audio=A, sampling_rate=8000)
    with pytest.raises(TypeError, match="bogus"):
        ours(text="A", bogus=1)


def test_modality_kwargs(pair):
    ours, _ = pair
    out = ours(
        audio=[A, B],
        text=TEXTS,
        sampling_rate=16000,
        return_tensors="pt",
        audio_kwargs={"padding": "max_length", "max_length": 40},
        text_kwargs={"padding": True},
    )
    assert out["input_values"].shape == (2, 40) and out["labels"].shape == (2, 11)


def test_pad_for_training_matches_reference(pair):
    ours, ref = pair
    feats = [{"input_values": A}, {"input_values": B}]
    labels = [{"input_ids": ours.tokenizer.encode(t)} for t in TEXTS]
    for kwargs in [
        {"input_features": feats, "labels": labels},
        {"input_features": feats},
        {"labels": labels},
    ]:
        a = ours.pad(**kwargs, padding=True, return_tensors="pt")
        b = ref.pad(**kwargs, padding=True, return_tensors="pt")
        assert_close(a, b)
    assert_close(ours.pad(feats, return_tensors="pt"), ref.pad(feats, return_tensors="pt"))


def test_decode_delegates(pair):
    ours, ref = pair
    ids = [[8, 8, 0, 7, 4, 9], [5, 0, 5]]
    assert ours.batch_decode(ids) == ref.batch_decode(ids)
    assert ours.decode(ids[0]) == ref.decode(ids[0])
    assert ours.model_input_names == ref.model_input_names


def test_save_writes_what_the_reference_writes(tmp_path, folder):
    ours = Wav2Vec2Processor.from_pretrained(folder)
    ours.save_pretrained(tmp_path)
    written = {p.name for p in tmp_path.iterdir()}
    reference = {p.name for p in folder.iterdir()}
    # special_tokens_map.json in addition, for older readers (transformers 4.x wrote it)
    assert written == reference | {"special_tokens_map.json"}
    assert (tmp_path / "processor_config.json").read_text() == (
        folder / "processor_config.json"
    ).read_text()
    assert (tmp_path / "vocab.json").read_text() == (folder / "vocab.json").read_text()
    ours_config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert ours_config == json.loads((folder / "tokenizer_config.json").read_text())


def test_ours_loads_in_reference_and_back(tmp_path):
    vocab = build_vocab(["abc def"], do_lower_case=True)
    tok = Wav2Vec2CTCTokenizer(vocab=vocab, do_lower_case=True)
    fe = Wav2Vec2FeatureExtractor(sampling_rate=8000, return_attention_mask=True)
    Wav2Vec2Processor(fe, tok).save_pretrained(tmp_path / "ours")
    ref = transformers.Wav2Vec2Processor.from_pretrained(tmp_path / "ours")
    assert ref.feature_extractor.sampling_rate == 8000 and ref.tokenizer.do_lower_case
    assert ref(text="bad cafe")["input_ids"] == tok("bad cafe")["input_ids"]
    ref.save_pretrained(tmp_path / "theirs")
    back = Wav2Vec2Processor.from_pretrained(tmp_path / "theirs")
    assert back.feature_extractor.to_dict() == fe.to_dict()
    assert back.tokenizer.get_vocab() == tok.get_vocab() and back.tokenizer.do_lower_case


def test_legacy_folder_with_preprocessor_config(tmp_path):
    """Released checkpoints: preprocessor_config.json + tokenizer files, no processor_config."""
    fe = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=False)
    fe.save_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps(build_vocab(["ab"])))
    (tmp_path / "special_tokens_map.json").write_text(
        json.dumps(
            {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
        )
    )
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "Wav2Vec2CTCTokenizer", "word_delimiter_token": "|"})
    )
    ours = Wav2Vec2Processor.from_pretrained(tmp_path)
    ref = transformers.Wav2Vec2Processor.from_pretrained(tmp_path)
    assert ours.feature_extractor.to_dict() == ref.feature_extractor.to_dict()
    assert ours.tokenizer.get_vocab() == ref.tokenizer.get_vocab()
    assert_close(ours(audio=A, sampling_rate=16000), ref(audio=A, sampling_rate=16000))
