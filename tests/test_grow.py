"""`w2vc deepen`: new conformer layers that start as identities, and weights stored as float16."""

from __future__ import annotations

import json

import pytest
import torch
from reference import TINY, randomise

import wav2vec2_conformer as w
from wav2vec2_conformer.checkpoint import load_state_dict
from wav2vec2_conformer.cli import main
from wav2vec2_conformer.grow import ZERO_OUTPUTS, deepen, insertion_plan


def trained_like(cls=w.Wav2Vec2ConformerForCTC, **kw):
    """A tiny model whose every weight (LayerNorm scales and shifts too) is far from its init."""
    torch.manual_seed(0)
    return randomise(cls(w.Wav2Vec2ConformerConfig(**{**TINY, **kw})), scale=0.3)


def test_insertion_plan_spreads_new_layers_after_old_ones():
    assert insertion_plan(4, 8) == [0, None, 1, None, 2, None, 3, None]
    assert insertion_plan(4, 6) == [0, 1, None, 2, 3, None]
    assert insertion_plan(2, 5) == [0, None, 1, None, None]
    assert insertion_plan(3, 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="cannot grow 4 conformer layers to 2"):
        insertion_plan(4, 2)


@pytest.mark.parametrize("position", ["rotary", "relative"])
@pytest.mark.parametrize("layers", [3, 5])
def test_deepened_model_computes_what_the_shallow_one_did(position, layers):
    model = trained_like(position_embeddings_type=position)
    grown = deepen(model, layers, seed=1)
    assert grown.config.num_hidden_layers == layers
    assert model.config.num_hidden_layers == 2  # the input is left alone
    assert len(grown.wav2vec2_conformer.encoder.layers) == layers
    assert not grown.training
    x = torch.randn(2, 4000)
    mask = torch.ones(2, 4000, dtype=torch.long)
    mask[1, 3000:] = 0
    with torch.no_grad():
        want = model(x, attention_mask=mask).logits
        got = grown(x, attention_mask=mask).logits
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    # the new layers are not copies: fresh weights, silent outputs
    plan = insertion_plan(2, layers)
    for i, source in enumerate(plan):
        block = grown.wav2vec2_conformer.encoder.layers[i]
        if source is None:
            for name in ZERO_OUTPUTS:
                assert not block.get_submodule(name).weight.any()
            assert block.ffn1.intermediate_dense.weight.std() > 0


def test_the_new_layers_learn_from_the_first_update():
    grown = deepen(trained_like(), 4).train()
    x = torch.randn(2, 4000)
    labels = torch.randint(4, 12, (2, 5))
    grown(x, labels=labels).loss.backward()
    new = grown.wav2vec2_conformer.encoder.layers[1]
    for name in ZERO_OUTPUTS:
        assert new.get_submodule(name).weight.grad.abs().sum() > 0


def test_deepens_a_bare_encoder_too():
    model = trained_like(w.Wav2Vec2ConformerModel)
    grown = deepen(model, 4)
    x = torch.randn(1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(
            grown(x).last_hidden_state, model(x).last_hidden_state, atol=1e-4, rtol=1e-4
        )


def test_cli_writes_a_float16_folder_with_the_processor_files(tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    model = trained_like()
    model.save_pretrained(src)
    (src / "vocab.json").write_text(json.dumps({"<pad>": 0, "a": 1}))
    (src / "language_model").mkdir()
    (src / "language_model" / "attrs.json").write_text('{"alpha": 0.5}')
    args = ["deepen", str(src), "--out", str(out), "--layers", "4", "--dtype", "float16"]
    assert main(args) == 0
    assert "4 conformer layers" in capsys.readouterr().err
    assert (out / "vocab.json").read_text() == (src / "vocab.json").read_text()
    assert (out / "language_model" / "attrs.json").is_file()
    assert json.loads((out / "config.json").read_text())["dtype"] == "float16"
    stored = load_state_dict(str(out))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    # half the bytes, loaded back as float32, computing what the source did (to fp16 rounding)
    grown = w.Wav2Vec2ConformerForCTC.from_pretrained(out)
    assert next(grown.parameters()).dtype == torch.float32
    x = torch.randn(1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(grown(x).logits, model(x).logits, atol=2e-2, rtol=2e-2)
    # a float32 copy says so in its config
    w.Wav2Vec2ConformerForCTC.from_pretrained(out).save_pretrained(tmp_path / "f32")
    assert json.loads((tmp_path / "f32" / "config.json").read_text())["dtype"] == "float32"


def test_cli_errors_are_one_line(tmp_path, capsys):
    src = tmp_path / "src"
    trained_like().save_pretrained(src)
    assert main(["deepen", str(src), "--out", str(tmp_path / "o"), "--layers", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "w2vc deepen: error: cannot grow 2 conformer layers to 1: need 1 <= old <= new"
    assert main(["deepen", str(src), "--out", str(src), "--layers", "3"]) == 1
    assert "would overwrite the model it grows" in capsys.readouterr().err
    assert main(["deepen", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--layers", "3"])
    assert capsys.readouterr().err.count("\n") == 1
