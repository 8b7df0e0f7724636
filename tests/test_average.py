"""`w2vc average`: the mean of several checkpoints' weights, written as an HF-layout folder."""

from __future__ import annotations

import json

import pytest
import torch
from reference import TINY

import wav2vec2_conformer as w
from wav2vec2_conformer.average import mean_state
from wav2vec2_conformer.checkpoint import CheckpointError, load_state_dict
from wav2vec2_conformer.cli import main


def ctc_model(seed: int, **kw) -> w.Wav2Vec2ConformerForCTC:
    torch.manual_seed(seed)
    return w.Wav2Vec2ConformerForCTC(w.Wav2Vec2ConformerConfig(**{**TINY, **kw}))


@pytest.fixture
def run(tmp_path):
    """A run folder as training leaves it: three checkpoints, final/ with processor and LM files."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    models = [ctc_model(seed) for seed in range(3)]
    for update, model in zip((100, 200, 300), models, strict=True):
        state = {"model": model.state_dict(), "optimizer": {}, "update": update}
        torch.save(state, out / "checkpoints" / f"update_{update:08d}.pt")
    models[-1].save_pretrained(out / "final")
    (out / "final" / "vocab.json").write_text(json.dumps({"<pad>": 0, "a": 1}))
    (out / "final" / "language_model").mkdir()
    (out / "final" / "language_model" / "attrs.json").write_text('{"alpha": 0.5}')
    return out, [m.state_dict() for m in models]


def test_mean_state_averages_floats_keeps_dtype_and_counters():
    a = {"w": torch.tensor([1.0, 2.0], dtype=torch.bfloat16), "n": torch.tensor(7)}
    b = {"w": torch.tensor([3.0, 5.0], dtype=torch.bfloat16), "n": torch.tensor(9)}
    got = mean_state([("a", a), ("b", b)])
    assert got["w"].dtype == torch.bfloat16
    assert got["w"].tolist() == [2.0, 3.5]
    assert got["n"].item() == 7


def test_mean_state_refuses_models_that_differ():
    a = {"w": torch.zeros(2), "v": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"b: keys differ from a's \(v\)"):
        mean_state([("a", a), ("b", {"w": torch.zeros(2)})])
    with pytest.raises(CheckpointError, match=r"b: w has shape \(3,\), a has \(2,\)"):
        mean_state([("a", a), ("b", {"w": torch.zeros(3), "v": torch.zeros(1)})])
    with pytest.raises(CheckpointError, match="nothing to average"):
        mean_state([])


def test_averages_the_newest_checkpoints_of_a_run(run, tmp_path, capsys):
    out, states = run
    avg = tmp_path / "avg"
    assert main(["average", str(out), "--last", "2", "--out", str(avg)]) == 0
    assert "averaged 2 checkpoints" in capsys.readouterr().err
    weights = load_state_dict(str(avg))
    for key, value in weights.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (states[1][key] + states[2][key]) / 2)
        else:  # batch-norm counters: the first checkpoint's
            assert torch.equal(value, states[1][key]), key
    # the template's other files come along; the folder loads with the public class
    assert json.loads((avg / "vocab.json").read_text()) == {"<pad>": 0, "a": 1}
    assert (avg / "language_model" / "attrs.json").exists()
    model = w.Wav2Vec2ConformerForCTC.from_pretrained(avg)
    assert model(torch.randn(1, 4000)).logits.isfinite().all()
    # a second average over the same folder replaces it whole; all three checkpoints this time
    assert main(["average", str(out), "--out", str(avg)]) == 0
    mean3 = states[0]["lm_head.weight"] + states[1]["lm_head.weight"] + states[2]["lm_head.weight"]
    torch.testing.assert_close(load_state_dict(str(avg))["lm_head.weight"], mean3 / 3)
    assert not list(tmp_path.glob("avg.*"))  # no temp or old folder left behind


def test_dtype_stores_the_mean_as_float16(run, tmp_path):
    out, states = run
    avg = tmp_path / "avg16"
    assert main(["average", str(out), "--out", str(avg), "--dtype", "float16"]) == 0
    weights = load_state_dict(str(avg))
    assert weights["lm_head.weight"].dtype == torch.float16
    assert not weights["lm_head.weight"].isinf().any()
    mean3 = sum(s["lm_head.weight"] for s in states) / 3
    torch.testing.assert_close(weights["lm_head.weight"].float(), mean3, atol=1e-3, rtol=1e-3)
    assert json.loads((avg / "config.json").read_text())["dtype"] == "float16"
    assert next(w.Wav2Vec2ConformerForCTC.from_pretrained(avg).parameters()).dtype == torch.float32


def test_model_folders_and_checkpoint_files_mix(run, tmp_path):
    out, states = run
    first = out / "checkpoints" / "update_00000100.pt"
    avg = tmp_path / "avg"
    assert main(["average", str(first), str(out / "final"), "--out", str(avg)]) == 0
    got = load_state_dict(str(avg))["lm_head.bias"]
    torch.testing.assert_close(got, (states[0]["lm_head.bias"] + states[2]["lm_head.bias"]) / 2)


def test_files_come_from_the_first_folder_with_a_language_model(run, tmp_path):
    out, _ = run
    bare = tmp_path / "bare"  # a model folder as training leaves final/: no language_model/
    ctc_model(7).save_pretrained(bare)
    avg = tmp_path / "avg"
    assert main(["average", str(bare), str(out / "final"), "--out", str(avg)]) == 0
    assert (avg / "language_model" / "attrs.json").read_text() == '{"alpha": 0.5}'
    assert (avg / "vocab.json").read_text() == (out / "final" / "vocab.json").read_text()
    lone = tmp_path / "lone"
    first = out / "checkpoints" / "update_00000100.pt"
    assert main(["average", str(bare), str(first), "--out", str(lone)]) == 0
    assert not (lone / "language_model").exists()  # no folder has one: the first folder's files


def test_bad_inputs_get_one_line_errors(run, tmp_path, capsys):
    out, _ = run

    def error(*argv):
        assert main(["average", *argv, "--out", str(tmp_path / "avg")]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("w2vc average: error:") and "\n" not in err, err
        return err

    assert "no such checkpoint" in error(str(tmp_path / "missing.pt"))
    assert "neither a model folder" in error(str(tmp_path))
    truncated = tmp_path / "update_00000400.pt"
    truncated.write_bytes((out / "checkpoints" / "update_00000100.pt").read_bytes()[:5000])
    assert "unreadable or truncated" in error(str(truncated), "--like", str(out / "final"))
    not_ours = tmp_path / "other.pt"
    torch.save({"weights": 1}, not_ours)
    assert "not a training checkpoint" in error(str(not_ours), "--like", str(out / "final"))
    # checkpoints of a differently sized model, against each other and against the template
    bigger = tmp_path / "bigger"
    ctc_model(0, hidden_size=48).save_pretrained(bigger)
    assert "has shape" in error(str(out / "final"), str(bigger))
    assert "does not fit" in error(str(bigger), "--like", str(out / "final"))
    # no template to take the config from
    (tmp_path / "lone").mkdir()
    lone = tmp_path / "lone" / "update_1.pt"
    lone.write_bytes((out / "checkpoints" / "update_00000100.pt").read_bytes())
    assert "name one with --like" in error(str(lone))
    twice = str(out / "checkpoints" / "update_00000100.pt")
    assert "named twice" in error(twice, twice)
    assert main(["average", str(out / "final"), "--out", str(out / "final")]) == 1
    assert "overwrite one of the inputs" in capsys.readouterr().err
