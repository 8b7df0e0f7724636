"""Checkpoint I/O: formats, sharding, key naming schemes, head-less loading, clear errors."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from reference import TINY, assert_close, batch, build_reference

import wav2vec2_conformer as w
from wav2vec2_conformer.checkpoint import CheckpointError, load_state_dict


def tiny(**kw):
    return w.Wav2Vec2ConformerConfig(**{**TINY, **kw})


def logits(model, x, mask):
    with torch.no_grad():
        return model(x, attention_mask=mask).logits


@pytest.mark.parametrize("safe", [True, False])
@pytest.mark.parametrize("shard", [None, 20_000])
def test_roundtrip_formats(safe, shard, tmp_path):
    torch.manual_seed(0)
    model = w.Wav2Vec2ConformerForCTC(tiny()).eval()
    model.save_pretrained(tmp_path, safe_serialization=safe, max_shard_size=shard)
    files = sorted(p.name for p in tmp_path.iterdir())
    if shard:
        assert any(f.endswith(".index.json") for f in files) and len(files) > 3, files
    loaded = w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path)
    x, mask = batch()
    assert_close(logits(loaded, x, mask), logits(model, x, mask), "logits", atol=0)
    assert not [f for f in files if f.endswith(".tmp")], "temporary files left behind"


def test_bin_checkpoint_is_loaded_with_weights_only(tmp_path, monkeypatch):
    torch.manual_seed(0)
    w.Wav2Vec2ConformerForCTC(tiny()).save_pretrained(tmp_path, safe_serialization=False)
    seen = {}
    real_load = torch.load

    def spy(*a, **k):
        seen.update(k)
        return real_load(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    load_state_dict(str(tmp_path))
    assert seen.get("weights_only") is True


def test_legacy_weight_norm_names(tmp_path):
    """Checkpoints converted from fairseq name the weight-norm parts weight_g / weight_v."""
    ref = build_reference("Wav2Vec2ConformerForCTC")
    ref.save_pretrained(tmp_path)
    state = load_state_dict(str(tmp_path))
    renamed = {
        k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): v
        for k, v in state.items()
    }
    assert any(k.endswith("weight_g") for k in renamed)
    from safetensors.torch import save_file

    save_file(renamed, str(tmp_path / "model.safetensors"))
    mine = w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path)
    g = mine.wav2vec2_conformer.encoder.pos_conv_embed.conv.parametrizations.weight.original0
    key = "wav2vec2_conformer.encoder.pos_conv_embed.conv.weight_g"
    assert torch.equal(g, renamed[key])
    x, mask = batch()
    with torch.no_grad():
        assert_close(logits(mine, x, mask), ref(x, attention_mask=mask).logits, "logits")


def test_headless_checkpoint_into_head_model_warns_with_new_keys(tmp_path, caplog):
    torch.manual_seed(0)
    bare = w.Wav2Vec2ConformerModel(tiny()).eval()
    bare.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="wav2vec2_conformer"):
        ctc = w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path)
    assert "lm_head.weight" in caplog.text and "Newly initialised" in caplog.text
    x, mask = batch()
    with torch.no_grad():
        a = ctc.wav2vec2_conformer(x, attention_mask=mask).last_hidden_state
        b = bare(x, attention_mask=mask).last_hidden_state
    assert_close(a, b, "encoder output", atol=0)


def test_pretraining_checkpoint_into_ctc_reports_unused_quantizer(tmp_path, caplog):
    torch.manual_seed(0)
    w.Wav2Vec2ConformerForPreTraining(tiny()).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="wav2vec2_conformer"):
        w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path)
    assert "not used" in caplog.text and "quantizer.codevectors" in caplog.text


def test_spec_augment_embedding_is_unused_when_masking_is_off(tmp_path, caplog):
    torch.manual_seed(0)
    ctc = w.Wav2Vec2ConformerForCTC(tiny(mask_time_prob=0.05)).eval()
    ctc.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="wav2vec2_conformer"):
        off = w.Wav2Vec2ConformerForCTC.from_pretrained(
            tmp_path, mask_time_prob=0.0, mask_feature_prob=0.0
        )
    assert "not used" in caplog.text and "masked_spec_embed" in caplog.text
    assert not hasattr(off.wav2vec2_conformer, "masked_spec_embed")
    x, mask = batch()
    assert_close(logits(off, x, mask), logits(ctc, x, mask), "logits", atol=0)


def test_head_checkpoint_into_bare_model(tmp_path, caplog):
    torch.manual_seed(0)
    ctc = w.Wav2Vec2ConformerForCTC(tiny()).eval()
    ctc.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="wav2vec2_conformer"):
        bare = w.Wav2Vec2ConformerModel.from_pretrained(tmp_path)
    assert "lm_head.weight" in caplog.text
    x, _ = batch((2000,))
    with torch.no_grad():
        assert_close(bare(x).last_hidden_state, ctc.wav2vec2_conformer(x).last_hidden_state, "h", 0)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    torch.manual_seed(0)
    model = w.Wav2Vec2ConformerForCTC(tiny())
    model.save_pretrained(tmp_path)
    state = load_state_dict(str(tmp_path))
    state.pop("wav2vec2_conformer.encoder.layers.0.ffn1.output_dense.weight")
    state["wav2vec2_conformer.encoder.bogus"] = torch.zeros(1)
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError) as e:
        w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path)
    msg = str(e.value)
    assert "missing keys: wav2vec2_conformer.encoder.layers.0.ffn1.output_dense.weight" in msg
    assert "unexpected keys: wav2vec2_conformer.encoder.bogus" in msg
    assert "\n" not in msg


def test_shape_mismatch_is_an_error_unless_ignored(tmp_path, caplog):
    torch.manual_seed(0)
    w.Wav2Vec2ConformerForCTC(tiny(vocab_size=12)).save_pretrained(tmp_path)
    with pytest.raises(
        CheckpointError, match=r"lm_head.weight checkpoint \(12, 16\) vs model \(20, 16\)"
    ):
        w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path, vocab_size=20)
    with caplog.at_level(logging.WARNING, logger="wav2vec2_conformer"):
        m = w.Wav2Vec2ConformerForCTC.from_pretrained(
            tmp_path, vocab_size=20, ignore_mismatched_sizes=True
        )
    assert m.lm_head.weight.shape == (20, 16) and "mismatched" in caplog.text


@pytest.mark.parametrize(
    "damage, pattern",
    [
        ("truncate", "unreadable"),
        ("garbage", "unreadable"),
        ("delete", "no weights found"),
        ("config", "not valid JSON"),
    ],
)
def test_corrupt_checkpoints_give_one_line_errors(damage, pattern, tmp_path):
    torch.manual_seed(0)
    w.Wav2Vec2ConformerForCTC(tiny()).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "garbage":
        weights.write_bytes(b"this is not a checkpoint")
    elif damage == "delete":
        weights.unlink()
    else:
        (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match=pattern) as e:
        w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path)
    assert "\n" not in str(e.value)


def test_missing_directory_and_hub_id_without_network(tmp_path):
    with pytest.raises(CheckpointError, match="no such model directory"):
        w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path / "nope")


def test_config_overrides_and_unknown_keys_roundtrip(tmp_path):
    torch.manual_seed(0)
    w.Wav2Vec2ConformerForCTC(tiny()).save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["my_custom_key"] = {"a": 1}
    (tmp_path / "config.json").write_text(json.dumps(data))
    m = w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path, layerdrop=0.0, final_dropout=0.0)
    assert m.config.layerdrop == 0.0 and m.config.extra["my_custom_key"] == {"a": 1}
    m.save_pretrained(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again["my_custom_key"] == {"a": 1}
    assert again["architectures"] == ["Wav2Vec2ConformerForCTC"]


def test_hub_id_goes_through_huggingface_hub(tmp_path, monkeypatch):
    """A hub id is fetched with huggingface_hub.snapshot_download (faked here: no network)."""
    hub = pytest.importorskip("huggingface_hub")
    torch.manual_seed(0)
    w.Wav2Vec2ConformerForCTC(tiny()).save_pretrained(tmp_path)
    asked = {}

    def fake_snapshot_download(repo_id, **kwargs):
        asked["repo_id"] = repo_id
        return str(tmp_path)

    monkeypatch.setattr(hub, "snapshot_download", fake_snapshot_download)
    model = w.Wav2Vec2ConformerForCTC.from_pretrained("some-org/some-model")
    assert asked["repo_id"] == "some-org/some-model"
    assert model.config.vocab_size == TINY["vocab_size"]


def test_hub_id_offline_is_a_clear_error(monkeypatch, tmp_path):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match="could not download") as e:
        w.Wav2Vec2ConformerForCTC.from_pretrained("facebook/wav2vec2-conformer-rope-large")
    assert "\n" not in str(e.value) and "no such local directory" in str(e.value)
