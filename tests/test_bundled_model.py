"""The model shipped inside the package transcribes the shipped examples, by default."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jiwer

import wav2vec2_conformer as w
from wav2vec2_conformer.cli import main
from wav2vec2_conformer.transcribe import BUNDLED_MODEL

EXAMPLES = BUNDLED_MODEL.parent / "examples"


def references() -> dict[str, str]:
    rows = (EXAMPLES / "examples.tsv").read_text(encoding="utf-8").splitlines()
    return {path: text for path, text in (r.split("\t") for r in rows if r.strip())}


def test_the_bundled_model_is_a_complete_small_model_folder():
    names = {p.name for p in BUNDLED_MODEL.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "README.md"} <= names
    assert {"preprocessor_config.json", "tokenizer_config.json"} <= names
    size = sum(p.stat().st_size for p in BUNDLED_MODEL.rglob("*") if p.is_file())
    assert size <= 30_000_000  # the 30 MB, the language model included
    card = (BUNDLED_MODEL / "README.md").read_text(encoding="utf-8")
    assert "WER" in card and "w2vc finetune" in card and "{" not in card.split("```yaml")[0]
    config = json.loads((BUNDLED_MODEL / "config.json").read_text())
    assert config["architectures"] == ["Wav2Vec2ConformerForCTC"]


def test_transcribes_the_shipped_examples_with_no_model_named():
    refs = references()
    assert 2 <= len(refs) <= 3
    results = w.transcribe([str(EXAMPLES / p) for p in refs])  # no model: the bundled one
    for (path, ref), result in zip(refs.items(), results, strict=True):
        assert jiwer.wer(ref, result.text) <= 0.25, (path, ref, result.text)
    path, text = next(iter(refs.items()))
    assert w.transcribe(str(EXAMPLES / path)).text == text  # the README's example, word for word


def test_cli_transcribe_and_evaluate_default_to_the_bundled_model():
    refs = references()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    cli = [sys.executable, "-m", "wav2vec2_conformer"]
    path, text = next(iter(refs.items()))
    r = subprocess.run(
        [*cli, "transcribe", str(EXAMPLES / path)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == text
    r = subprocess.run(
        [*cli, "transcribe", str(EXAMPLES / path), "--model", "bundled"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0 and r.stdout.strip() == text, r.stderr
    r = subprocess.run(
        [*cli, "evaluate", str(EXAMPLES / "examples.tsv")], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    wer = float(r.stdout.strip().splitlines()[-1].split()[1].rstrip("%"))
    assert wer <= 25.0, r.stdout


def test_the_project_readme_quotes_the_cards_results():
    """The README's bundled-model paragraph is written by hand: it must match the card's table."""
    card = (BUNDLED_MODEL / "README.md").read_text(encoding="utf-8")
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    readme = re.sub(r"\b[WC]ER ", "", readme)  # "WER 49.68% / CER 22.86%" -> "49.68% / 22.86%"
    rows = card.split("## Result")[1].split("\n## ")[0].splitlines()
    pairs = [p for r in rows if (p := re.findall(r"WER ([\d.]+)% CER ([\d.]+)%", r))]
    assert [len(p) for p in pairs] == [2, 2, 2]  # greedy, LM, PocketSphinx; dev and eval each
    for wer, cer in (pair for row in pairs for pair in row):
        assert f"{wer}% / {cer}%" in readme, (wer, cer)


def test_info_describes_the_bundled_model_by_default(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"model:        {BUNDLED_MODEL}" in out and "stored as:" in out
    assert main(["info", "bundled"]) == 0
    assert capsys.readouterr().out == out


def test_average_takes_the_name_bundled_and_writes_a_float16_copy(tmp_path):
    """`w2vc average bundled --dtype float16` is the README's way to a copy other tools load."""
    out = tmp_path / "float16"
    assert main(["average", "bundled", "--dtype", "float16", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert "quantization" not in config and config["num_hidden_layers"] > 0
    assert (out / "vocab.json").is_file() and (out / "language_model").is_dir()
    result = w.transcribe(str(EXAMPLES / "flite-rms.wav"), model=out)
    assert result.text == references()["flite-rms.wav"]
