"""The synthetic corpus builder: text rules, voices and splits, engines, augmentation, a build.

Text and planning tests are pure and always run. Tests that synthesise skip with a reason
when an engine, sox or the texts are missing (``scripts/install_tts.sh`` installs them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wav2vec2_conformer import augment, corpus, sentences, synth
from wav2vec2_conformer.corpus import CorpusOptions
from wav2vec2_conformer.sentences import Sentence

SR = augment.SAMPLE_RATE
HAVE_SOX = shutil.which("sox") is not None
HAVE_TEXTS = not sentences.missing_texts()
needs_sox = pytest.mark.skipif(not HAVE_SOX, reason="sox is not installed")


# ---- voices, splits, plans (pure) -------------------------------------------------------------


def test_reserved_voices_are_the_evaluation_ones() -> None:
    reserved = {v.name for v in synth.catalogue() if v.reserved}
    assert reserved == {
        "flite:slt",
        "festival:cmu_us_slt_arctic_hts",
        "mbrola:mb-us1",
        "festival:us1_mbrola",
        "pico:en-GB",
        "rhvoice:slt",
    }


def all_voices_installed() -> list[synth.Voice]:
    return synth.catalogue()  # pretend every voice is installed: planning is pure


def test_split_voices_keep_speakers_apart_and_reserved_out() -> None:
    opts = CorpusOptions(out="")
    train = corpus.split_voices("train", opts, all_voices_installed())
    dev = corpus.split_voices("dev", opts, all_voices_installed())
    ev = corpus.split_voices("eval", opts, all_voices_installed())
    assert not {v.speaker for v in train} & {v.speaker for v in dev}
    assert not any(v.reserved for v in train + dev)
    assert ev and all(v.reserved for v in ev)
    # mb-us3 is in dev, so festival's us3_mbrola (the same diphone set) is not in train
    assert "festival:us3_mbrola" not in {v.name for v in train}


def test_opt_in_voices_join_train_only_when_named() -> None:
    paired = {v.name for v in synth.catalogue() if v.opt_in}
    assert "mbrola:mb-es1-en" in paired and not any(n.startswith("mbrola:mb-de4") for n in paired)
    train = corpus.split_voices("train", CorpusOptions(out=""), all_voices_installed())
    assert not paired & {v.name for v in train}
    named = CorpusOptions(out="", voices=("mbrola:mb-es?-en", "flite:awb"))
    chosen = {v.name for v in corpus.split_voices("train", named, all_voices_installed())}
    assert chosen == {"mbrola:mb-es1-en", "mbrola:mb-es2-en", "flite:awb"}
    # dev voices' speakers and reserved voices stay out whatever the patterns say
    everything = CorpusOptions(out="", voices=("*",))
    chosen = {v.name for v in corpus.split_voices("train", everything, all_voices_installed())}
    assert paired <= chosen and "flite:rms" not in chosen and "flite:slt" not in chosen
    with pytest.raises(ValueError, match="no installed train voice matches"):
        corpus.split_voices("train", CorpusOptions(out="", voices=("flite:rms",)), [])
    # plans made before --voices existed keep their fingerprint
    assert "voices" not in CorpusOptions(out="").fingerprint()
    assert named.fingerprint()["voices"] == ["mbrola:mb-es?-en", "flite:awb"]


def test_reserved_voice_cannot_be_used_for_train_or_dev() -> None:
    with pytest.raises(ValueError, match="reserved"):
        corpus.split_voices("dev", CorpusOptions(out="", dev_voices=("flite:slt",)), [])
    sents = [Sentence("one two three", "one two three")]
    slt = [v for v in synth.catalogue() if v.name == "flite:slt"]
    for split in ("train", "dev"):
        with pytest.raises(ValueError, match="reserved"):
            corpus.plan_split(split, CorpusOptions(out=""), slt, sents)
    assert corpus.plan_split("eval", CorpusOptions(out="", max_utterances=2), slt, sents)


def test_plan_is_reproducible_and_mixes_voices() -> None:
    opts = CorpusOptions(out="", hours=0.5, augment_prob=0.5)
    voices = corpus.split_voices("train", opts, all_voices_installed())
    sents = [Sentence(f"this is sentence {w}", f"this is sentence {w}") for w in "abcdefgh" * 50]
    a = corpus.plan_split("train", opts, voices, sents)
    assert a == corpus.plan_split("train", opts, voices, sents)
    assert a != corpus.plan_split("train", CorpusOptions(out="", hours=0.5, seed=1), voices, sents)
    est = sum(0.04 * len(r["text"]) + 0.4 for r in a)
    assert 0.35 * 3600 < est < 0.65 * 3600  # hours decide the size
    engines = [r["engine"] for r in a]
    assert engines.count("espeak") / len(a) < 0.15  # robotic voices stay a small share
    assert len({r["voice"] for r in a}) > 30
    share = sum(bool(r["augment"]) for r in a) / len(a)
    assert 0.35 < share < 0.65


def test_draw_augmentation_respects_probability() -> None:
    rng = np.random.default_rng(0)
    assert all(augment.draw_augmentation(rng, 0.0) == {} for _ in range(50))
    augs = [augment.draw_augmentation(rng, 1.0) for _ in range(200)]
    assert all(augs)
    for key in ("speed", "tempo", "pitch", "reverb", "noise", "telephone"):
        assert any(key in a for a in augs), key


# ---- engines --------------------------------------------------------------------------------

INSTALLED = synth.installed_voices()


def first_voice(engine: str, opt_in: bool = False) -> synth.Voice | None:
    return next(
        (v for v in INSTALLED if v.engine == engine and not v.reserved and v.opt_in == opt_in),
        None,
    )


@needs_sox
@pytest.mark.parametrize("engine, opt_in", [(e, False) for e in synth.ENGINES] + [("mbrola", True)])
def test_engine_speaks_sentences(engine: str, opt_in: bool, tmp_path: Path) -> None:
    """Each engine, and a foreign mbrola diphone set paired with English by this project."""
    voice = first_voice(engine, opt_in)
    if voice is None:
        pytest.skip(f"no {engine} voice installed (scripts/install_tts.sh)")
    items = [
        {"id": "a", "spoken": "The cars raced down the street.", "prosody": {"rate": 1.0}},
        {"id": "b", "spoken": "She mistook his manly regard for love", "prosody": {"rate": 1.1}},
    ]
    for r in items:
        r.update(path=f"{r['id']}.flac", augment={}, peak_db=-3.0)
    results = synth.synthesize_job(voice, items, str(tmp_path))
    for (uid, seconds, err), r in zip(results, items, strict=True):
        assert uid == r["id"]
        assert seconds is not None, f"{voice.name}: {err}"
        x, sr = sf.read(tmp_path / r["path"])
        assert sr == SR and x.ndim == 1 and sf.info(str(tmp_path / r["path"])).subtype == "PCM_16"
        assert np.sqrt(np.mean(x**2)) > 0.01, "silent"
        assert abs(np.max(np.abs(x)) - 10 ** (-3 / 20)) < 0.01  # peak-normalised
        chars = len(r["spoken"])
        assert 0.025 * chars < len(x) / SR < 0.12 * chars + 1.0, (voice.name, len(x) / SR)


# ---- augmentation ----------------------------------------------------------------------------


def render(tmp_path: Path, x: np.ndarray, effects: dict, name: str = "out.wav") -> np.ndarray:
    raw = tmp_path / "raw.wav"
    sf.write(raw, x, SR, subtype="FLOAT")
    augment.render(str(raw), str(tmp_path / name), effects, peak_db=-1.0)
    y, sr = sf.read(tmp_path / name)
    assert sr == SR
    return y


def tone(freq: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return 0.5 * np.sin(2 * np.pi * freq * t)


def peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * SR / len(x))


def band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum() / spec.sum())


@needs_sox
def test_speed_tempo_pitch_change_what_they_claim(tmp_path: Path) -> None:
    x = tone(440)
    plain = render(tmp_path, x, {})
    assert abs(len(plain) / SR - 2.0) < 0.01 and abs(peak_hz(plain) - 440) < 5
    fast = render(tmp_path, x, {"speed": 1.25})  # shorter and higher
    assert abs(len(fast) / SR - 1.6) < 0.03 and abs(peak_hz(fast) - 550) < 8
    slow = render(tmp_path, x, {"tempo": 0.8})  # longer, same pitch
    assert abs(len(slow) / SR - 2.5) < 0.05 and abs(peak_hz(slow) - 440) < 8
    up = render(tmp_path, x, {"pitch": 1200.0})  # an octave up, same length
    assert abs(len(up) / SR - 2.0) < 0.05 and abs(peak_hz(up) - 880) < 12


@needs_sox
def test_telephone_band_removes_high_and_low_frequencies(tmp_path: Path) -> None:
    x = 0.3 * np.random.default_rng(0).standard_normal(2 * SR)
    assert band_energy(render(tmp_path, x, {}), 4000, 8000) > 0.4
    phone = render(tmp_path, x, {"telephone": True})
    assert band_energy(phone, 4000, 8000) < 1e-3
    assert band_energy(phone, 0, 200) < 1e-2


@needs_sox
def test_noise_is_added_at_the_requested_snr(tmp_path: Path) -> None:
    x = tone(300)
    clean = render(tmp_path, x, {})
    for snr in (10.0, 25.0):
        noisy = render(tmp_path, x, {"noise": {"snr": snr, "color": "pink", "seed": 3}})
        scale = np.dot(noisy, clean) / np.dot(clean, clean)  # undo the peak normalisation
        noise = noisy - scale * clean
        got = 10 * np.log10(np.mean((scale * clean) ** 2) / np.mean(noise**2))
        assert abs(got - snr) < 1.0, (snr, got)


@needs_sox
def test_reverb_adds_a_tail_and_is_deterministic(tmp_path: Path) -> None:
    x = np.concatenate([tone(500, 0.3), np.zeros(SR // 2)])
    dry = render(tmp_path, x, {})
    wet = render(tmp_path, x, {"reverb": [80.0, 50.0, 100.0]})
    tail = slice(int(0.35 * SR), int(0.45 * SR))  # just after the tone stops
    assert np.mean(wet[tail] ** 2) > 100 * np.mean(dry[tail] ** 2) + 1e-9
    assert np.array_equal(wet, render(tmp_path, x, {"reverb": [80.0, 50.0, 100.0]}))


# ---- a small build -----------------------------------------------------------------------------


@needs_sox
@pytest.mark.skipif(not HAVE_TEXTS, reason="wordnet-base or fortunes is not installed")
def test_build_small_corpus_splits_by_voice_and_resumes(tmp_path: Path) -> None:
    dev_voice = "flite:rms"
    if first_voice("espeak") is None or dev_voice not in {v.name for v in INSTALLED}:
        pytest.skip("needs espeak-ng and flite (scripts/install_tts.sh)")
    opts = CorpusOptions(
        out=str(tmp_path),
        splits=("train", "dev"),
        max_utterances=8,
        engines=("espeak", "flite"),
        dev_voices=(dev_voice,),
        augment_prob=1.0,
        workers=1,
        chunk_size=4,
    )
    infos = corpus.build_corpus(opts)
    assert [i["utterances"] for i in infos] == [8, 8] and not any(i["failed"] for i in infos)
    for split in ("train", "dev"):
        lines = (tmp_path / f"{split}.tsv").read_text().splitlines()
        assert len(lines) == 8
        for line in lines:
            path, text = line.split("\t")
            assert (tmp_path / path).exists() and not Path(path).is_absolute()
            assert text and set(text) <= set("abcdefghijklmnopqrstuvwxyz' ")
    meta = {s: [json.loads(x) for x in open(tmp_path / f"{s}.jsonl")] for s in ("train", "dev")}
    assert {r["voice"] for r in meta["dev"]} == {dev_voice}
    assert not {r["speaker"] for r in meta["train"]} & {r["speaker"] for r in meta["dev"]}
    assert all(r["augment"] for r in meta["train"]) and not any(r["augment"] for r in meta["dev"])
    assert not {r["text"] for r in meta["train"]} & {r["text"] for r in meta["dev"]}
    # the LM text: every sentence train may use, so the spoken ones and no dev sentence
    lm_text = set((tmp_path / "train_text.txt").read_text().splitlines())
    assert {r["text"] for r in meta["train"]} <= lm_text
    assert not {r["text"] for r in meta["dev"]} & lm_text
    summary = json.loads((tmp_path / "voices.json").read_text())
    assert summary["train"]["utterances"] == 8
    # resuming makes nothing new; other options on the same folder are refused
    assert [i["made_seconds"] for i in corpus.build_corpus(opts)] == [0.0, 0.0]
    with pytest.raises(ValueError, match="other options"):
        corpus.build_corpus(CorpusOptions(**{**opts.__dict__, "seed": 1}))


@needs_sox
def test_cli_builds_eval_only_when_named(tmp_path: Path) -> None:
    if not HAVE_TEXTS or not any(v.reserved for v in INSTALLED):
        pytest.skip("needs a reserved voice and the texts (scripts/install_tts.sh)")
    argv = ["--out", str(tmp_path), "--max-utterances", "3", "--workers", "1", "--split", "eval"]
    assert corpus.main(argv) == 0
    meta = [json.loads(x) for x in open(tmp_path / "eval.jsonl")]
    assert len(meta) == 3 and all(r["speaker"] in synth.RESERVED_SPEAKERS for r in meta)
    assert not (tmp_path / "train.tsv").exists() and not any(r["augment"] for r in meta)


def test_missing_texts_is_a_one_line_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sentences, "missing_texts", lambda: ["wordnet-base"])
    with pytest.raises(SystemExit):
        corpus.main(["--out", str(tmp_path)])
    assert "texts not installed: wordnet-base" in capsys.readouterr().err


def test_bad_kokoro_blend_count_is_a_one_line_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("W2VC_KOKORO_BLENDS", "many")
    with pytest.raises(SystemExit):
        corpus.main(["--list-voices", "--engines", "kokoro"])
    assert "W2VC_KOKORO_BLENDS must be a count of blends, not 'many'" in capsys.readouterr().err
