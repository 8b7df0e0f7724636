"""Int8 weight storage (`save_pretrained(dtype=torch.int8)`, `w2vc average --dtype int8`)."""

from __future__ import annotations

import json

import pytest
import torch
from reference import TINY
from safetensors.torch import load_file, save_file

import wav2vec2_conformer as w
from wav2vec2_conformer.checkpoint import CheckpointError, load_state_dict
from wav2vec2_conformer.cli import main
from wav2vec2_conformer.quantize import (
    SCALE_SUFFIX,
    dequantize_state,
    quantize_state,
    quantize_tensor,
)

# wide enough that the attention and feed-forward matrices reach quantize.MIN_ELEMENTS
WIDE = {**TINY, "hidden_size": 64, "intermediate_size": 128}


def wide_model(seed: int = 0) -> w.Wav2Vec2ConformerForCTC:
    torch.manual_seed(seed)
    return w.Wav2Vec2ConformerForCTC(w.Wav2Vec2ConformerConfig(**WIDE)).eval()


def test_rounding_error_is_at_most_half_a_step_per_row():
    torch.manual_seed(0)
    weight = torch.randn(8, 5, 3) * torch.logspace(-3, 1, 8)[:, None, None]  # rows of many sizes
    weight[2] = 0.0
    q, scale = quantize_tensor(weight)
    assert q.dtype == torch.int8 and q.shape == weight.shape and scale.shape == (8,)
    assert q.abs().max() == 127
    back = dequantize_state({"w": q, "w" + SCALE_SUFFIX: scale})["w"]
    assert back.dtype == torch.float32
    err = (back - weight).abs().reshape(8, -1).amax(dim=1)
    assert (err <= scale / 2 * (1 + 1e-5)).all()
    assert torch.equal(back[2], torch.zeros(5, 3))  # an all-zero row stays exactly zero


def test_only_large_weight_matrices_become_int8():
    state = {
        "big.weight": torch.randn(64, 64),
        "big.bias": torch.randn(64),
        "small.weight": torch.randn(4, 4),
        "bn.num_batches_tracked": torch.tensor(3),
    }
    q = quantize_state(state)
    assert q["big.weight"].dtype == torch.int8 and "big.weight" + SCALE_SUFFIX in q
    assert q["big.bias"].dtype == torch.float16 and q["small.weight"].dtype == torch.float16
    assert q["bn.num_batches_tracked"].dtype == torch.int64
    assert set(dequantize_state(q)) == set(state)


def test_int8_folder_is_smaller_and_transcribes_like_the_float_model(tmp_path):
    model = wide_model()
    model.save_pretrained(tmp_path / "f16", dtype=torch.float16)
    model.save_pretrained(tmp_path / "i8", dtype=torch.int8)
    size16 = (tmp_path / "f16" / "model.safetensors").stat().st_size
    size8 = (tmp_path / "i8" / "model.safetensors").stat().st_size
    assert size8 < 0.7 * size16
    config = json.loads((tmp_path / "i8" / "config.json").read_text())
    assert config["quantization"] == "int8 per output channel" and config["dtype"] == "float16"
    stored = load_file(tmp_path / "i8" / "model.safetensors")
    assert sum(v.dtype == torch.int8 for v in stored.values()) >= 8
    loaded = w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path / "i8")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    torch.manual_seed(1)
    x = torch.randn(2, 8000)
    with torch.no_grad():
        want, got = model(x).logits, loaded(x).logits
    assert (got - want).abs().max() < 0.05 * want.abs().max()
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() > 0.9  # random logits: near ties
    # saved again in float32, the folder no longer claims to be quantized
    loaded.save_pretrained(tmp_path / "f32")
    assert "quantization" not in json.loads((tmp_path / "f32" / "config.json").read_text())


def test_average_writes_and_reads_int8_folders(tmp_path, capsys):
    for seed in (0, 1):
        wide_model(seed).save_pretrained(tmp_path / f"m{seed}")
    assert main(["average", str(tmp_path / "m0"), str(tmp_path / "m1"), "--out",
                 str(tmp_path / "i8"), "--dtype", "int8"]) == 0  # fmt: skip
    assert main(["average", str(tmp_path / "i8"), "--out", str(tmp_path / "again")]) == 0
    capsys.readouterr()
    mean = (load_state_dict(str(tmp_path / "m0"))["lm_head.weight"]
            + load_state_dict(str(tmp_path / "m1"))["lm_head.weight"]) / 2  # fmt: skip
    got = load_state_dict(str(tmp_path / "again"))["lm_head.weight"]
    torch.testing.assert_close(got, mean, atol=mean.abs().max().item() / 127, rtol=0)


def test_broken_int8_pairs_are_refused_in_one_line(tmp_path):
    wide_model().save_pretrained(tmp_path / "m", dtype=torch.int8)
    path = tmp_path / "m" / "model.safetensors"
    state = load_file(path)
    key = next(k for k in state if k.endswith(SCALE_SUFFIX))
    weight = key.removesuffix(SCALE_SUFFIX)
    save_file({k: v for k, v in state.items() if k != key}, path)
    with pytest.raises(CheckpointError, match=f"int8 weights without scales.*{weight}") as err:
        w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path / "m")
    assert "\n" not in str(err.value)
    save_file({k: v for k, v in state.items() if k != weight}, path)
    with pytest.raises(CheckpointError, match=f"int8 scales {key} have no weight"):
        load_state_dict(str(tmp_path / "m"))


def test_info_names_the_storage(tmp_path, capsys):
    model = wide_model()
    model.save_pretrained(tmp_path / "i8", dtype=torch.int8)
    model.save_pretrained(tmp_path / "f16", dtype=torch.float16)
    assert main(["info", str(tmp_path / "i8")]) == 0
    assert "stored as:    int8 per output channel" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "f16")]) == 0
    assert "stored as:    float16" in capsys.readouterr().out
