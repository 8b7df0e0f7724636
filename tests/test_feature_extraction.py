"""Wav2Vec2FeatureExtractor against the reference's on the same inputs, plus file round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers

from wav2vec2_conformer.feature_extraction import BatchFeature, Wav2Vec2FeatureExtractor

RNG = np.random.default_rng(0)
A = (RNG.standard_normal(37) * 0.3 + 0.1).astype(np.float32)
B = (RNG.standard_normal(20) * 2.0 - 0.5).astype(np.float32)
C = (RNG.standard_normal(53) * 0.01).astype(np.float32)


def both(**config):
    return Wav2Vec2FeatureExtractor(**config), transformers.Wav2Vec2FeatureExtractor(**config)


def assert_same(ours: BatchFeature, ref, atol: float = 1e-6) -> None:
    assert set(ours) == set(ref.keys())
    for key in ours:
        a, b = ours[key], ref[key]
        if isinstance(b, torch.Tensor):
            assert isinstance(a, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, key
        a, b = [np.asarray(v) for v in a], [np.asarray(v) for v in b]
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and x.shape == y.shape, key
            np.testing.assert_allclose(x, y, atol=atol, rtol=0, err_msg=key)


CASES = [
    ("single array", A, {}),
    ("single list of floats", A.astype(np.float64).tolist(), {}),
    ("ragged batch, no padding", [A, B, C], {}),
    ("ragged batch, longest", [A, B, C], {"padding": True, "return_tensors": "pt"}),
    ("longest str, np", [A, B], {"padding": "longest", "return_tensors": "np"}),
    ("max_length", [A, B], {"padding": "max_length", "max_length": 60, "return_tensors": "pt"}),
    ("truncate", [A, C], {"padding": True, "truncation": True, "max_length": 30}),
    ("truncate, multiple", [A, C], {"truncation": True, "max_length": 30, "pad_to_multiple_of": 8}),
    ("multiple of 16", [A, B], {"padding": True, "pad_to_multiple_of": 16, "return_tensors": "pt"}),
    ("mask off, padded", [A, B], {"padding": True, "return_attention_mask": False}),
    ("mask on", [A, B], {"padding": True, "return_attention_mask": True, "return_tensors": "pt"}),
    ("2-D array batch", np.stack([A[:20], B]), {"return_tensors": "pt"}),
    ("list of lists", [A.tolist(), B.tolist()], {"padding": True, "return_tensors": "np"}),
]


@pytest.mark.parametrize("config", [{}, {"return_attention_mask": True}, {"do_normalize": False}])
@pytest.mark.parametrize("name, speech, kwargs", CASES, ids=[c[0] for c in CASES])
def test_call_matches_reference(config, name, speech, kwargs):
    ours, ref = both(**config)
    assert_same(
        ours(speech, sampling_rate=16000, **kwargs), ref(speech, sampling_rate=16000, **kwargs)
    )


def test_padding_value_after_normalisation_matches_reference():
    ours, ref = both(padding_value=-3.5, return_attention_mask=True)
    kwargs = dict(sampling_rate=16000, padding=True, return_tensors="pt")
    out = ours([A, B, C], **kwargs)
    assert_same(out, ref([A, B, C], **kwargs))
    assert (out.input_values[1, len(B) :] == -3.5).all()
    valid = out.input_values[1, : len(B)]
    assert abs(valid.mean()) < 1e-6 and abs(valid.std(unbiased=False) - 1) < 1e-5


def test_normalisation_values():
    fe = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    out = fe([A, B], sampling_rate=16000, padding=True, return_tensors="np")
    expected = (B - B.mean()) / np.sqrt(B.var() + 1e-7)
    np.testing.assert_allclose(out["input_values"][1, : len(B)], expected, atol=1e-6)
    assert out["attention_mask"].dtype == np.int32
    np.testing.assert_array_equal(out["attention_mask"].sum(1), [len(A), len(B)])
    silence = fe(np.zeros(10), sampling_rate=16000)["input_values"][0]
    assert np.isfinite(silence).all() and (silence == 0).all()  # epsilon keeps it finite


def test_left_padding_normalises_the_valid_samples():
    # The reference normalises x[:length] even when padding on the left (its known bug);
    # here the statistics come from the samples the mask marks valid.
    fe = Wav2Vec2FeatureExtractor(return_attention_mask=True, padding_side="left")
    out = fe([A, B], sampling_rate=16000, padding=True, return_tensors="np")
    pad = len(A) - len(B)
    np.testing.assert_array_equal(out["attention_mask"][1], [0] * pad + [1] * len(B))
    assert (out["input_values"][1, :pad] == 0).all()
    np.testing.assert_allclose(
        out["input_values"][1, pad:], (B - B.mean()) / np.sqrt(B.var() + 1e-7), atol=1e-6
    )


def test_errors():
    fe = Wav2Vec2FeatureExtractor()
    with pytest.raises(ValueError, match="8000 Hz.*16000 Hz"):
        fe(A, sampling_rate=8000)
    with pytest.raises(ValueError, match="max_length"):
        fe([A, B], sampling_rate=16000, padding="max_length")
    with pytest.raises(ValueError, match="max_length"):
        fe([A, B], sampling_rate=16000, truncation=True)
    with pytest.raises(ValueError, match="padding=True"):
        fe([A, B], sampling_rate=16000, return_tensors="pt")
    with pytest.raises(ValueError, match="mono"):
        fe(np.zeros((2, 3, 4)), sampling_rate=16000)
    with pytest.raises(ValueError, match="padding must be"):
        fe(A, sampling_rate=16000, padding="sideways")
    with pytest.warns(UserWarning, match="sampling_rate"):
        fe(A)


def test_pad_as_collator_matches_reference():
    ours, ref = both(return_attention_mask=True)
    for make in (torch.from_numpy, np.asarray, np.ndarray.tolist):
        feats = [{"input_values": make(A)}, {"input_values": make(B)}]
        a = ours.pad(feats, padding=True)
        b = ref.pad(feats, padding=True)
        assert_same(a, b)
        assert isinstance(a["input_values"], torch.Tensor) == (make is torch.from_numpy)
    batch = ours.pad({"input_values": [A, C]}, return_tensors="pt", pad_to_multiple_of=8)
    assert batch.input_values.shape == (2, 56)


def test_batch_feature_to():
    out = Wav2Vec2FeatureExtractor(return_attention_mask=True)(
        [A, B], sampling_rate=16000, padding=True, return_tensors="pt"
    )
    out = out.to(torch.float64)
    assert out.input_values.dtype == torch.float64 and out.attention_mask.dtype == torch.int32
    assert out.to("cpu").input_values.device.type == "cpu"


def test_save_load_round_trips_with_reference(tmp_path):
    ours = Wav2Vec2FeatureExtractor(
        sampling_rate=8000, padding_value=0.5, return_attention_mask=True, my_key=[1, 2]
    )
    ours.save_pretrained(tmp_path / "ours")
    text = (tmp_path / "ours" / "preprocessor_config.json").read_text()
    ref = transformers.Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "ours")
    assert ref.to_json_string() == text  # same keys, values and layout
    ref.save_pretrained(tmp_path / "theirs")
    back = Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "theirs")
    assert back.to_dict() == ours.to_dict() and back.extra == {"my_key": [1, 2]}
    saved = json.loads(text)
    assert saved["feature_extractor_type"] == "Wav2Vec2FeatureExtractor"
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "ours", sampling_rate=16000)
    assert not list((tmp_path / "ours").glob("*.tmp"))  # atomic write left nothing behind
