"""Formant shifting (`augment.shift_formants`, Praat through parselmouth) and the training
option that uses it (`--formant-shift`)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf

from wav2vec2_conformer.augment import shift_formants
from wav2vec2_conformer.train.config import FinetuneConfig
from wav2vec2_conformer.train.data import AudioDataset, Utterance

pytest.importorskip("parselmouth", reason="praat-parselmouth is not installed (the train extra)")

SR = 16000


def vowel(f0: float = 100.0, formant: float = 1000.0, bandwidth: float = 60.0) -> np.ndarray:
    """One second of a buzz at `f0` through one resonance at `formant`: a crude vowel whose
    pitch and formant can be read off its spectrum."""
    pulses = np.zeros(SR)
    pulses[:: int(SR / f0)] = 1.0
    r = np.exp(-np.pi * bandwidth / SR)
    a1, a2 = 2 * r * np.cos(2 * np.pi * formant / SR), -r * r
    y = np.zeros(SR)
    for i in range(SR):  # y[n] = x[n] + a1 y[n-1] + a2 y[n-2]
        y[i] = pulses[i] + a1 * y[i - 1] * (i > 0) + a2 * y[i - 2] * (i > 1)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def strongest_hz(wav: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.argmax(spectrum) * SR / len(wav))


def pitch_hz(wav: np.ndarray) -> float:
    ac = np.correlate(wav, wav, "full")[len(wav) - 1 :]
    low, high = SR // 400, SR // 60  # lags of 400 Hz to 60 Hz
    return SR / (low + int(np.argmax(ac[low:high])))


@pytest.mark.parametrize("ratio", [0.85, 1.0, 1.2])
def test_shift_formants_moves_the_formant_and_keeps_pitch_and_length(ratio):
    v = vowel()
    out = shift_formants(v, SR, ratio)
    assert out.shape == v.shape and out.dtype == np.float32
    assert abs(strongest_hz(out) - 1000 * ratio) <= 60  # within one harmonic of the new formant
    assert abs(pitch_hz(out) - 100) < 2


def test_audio_praat_cannot_analyse_comes_back_unchanged():
    silence = np.zeros(SR // 100, dtype=np.float32)  # 10 ms: shorter than a pitch period window
    np.testing.assert_array_equal(shift_formants(silence, SR, 1.2), silence)


def test_dataset_shifts_a_share_of_utterances_per_epoch(tmp_path):
    sf.write(tmp_path / "v.wav", vowel(), SR, subtype="FLOAT")
    items = [Utterance(str(tmp_path / "v.wav"), SR)]
    plain = AudioDataset(items, SR, seed=3)
    always = AudioDataset(items, SR, seed=3, formants=(1.2, 1.2), formant_prob=1.0)
    never = AudioDataset(items, SR, seed=3, formants=(1.2, 1.2), formant_prob=0.0)
    base = plain[(0, 0, 0)]["input_values"]
    np.testing.assert_array_equal(never[(0, 0, 0)]["input_values"], base)
    shifted = always[(0, 0, 0)]["input_values"]
    assert shifted.shape == base.shape and abs(strongest_hz(shifted) - 1200) <= 60
    np.testing.assert_array_equal(always[(0, 5, 0)]["input_values"], shifted)  # same draw
    half = AudioDataset(items, SR, seed=3, formants=(0.9, 1.1), formant_prob=0.5)
    changed = [not np.array_equal(half[(epoch, 0, 0)]["input_values"], base) for epoch in range(20)]
    assert 3 <= sum(changed) <= 17  # about half the epochs


def test_formant_options_are_checked():
    cfg = FinetuneConfig(formant_shift=(0.9, 1.1), formant_shift_prob=0.3)
    assert cfg.augmentation() == {"speed": None, "formants": (0.9, 1.1), "formant_prob": 0.3}
    with pytest.raises(ValueError, match="formant_shift must be two factors"):
        FinetuneConfig(formant_shift=(1.2, 0.9))
    with pytest.raises(ValueError, match="formant_shift_prob"):
        FinetuneConfig(formant_shift_prob=1.5)


def test_missing_parselmouth_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "parselmouth", None)  # import fails
    with pytest.raises(RuntimeError, match="pip install 'wav2vec2-conformer\\[train\\]'"):
        AudioDataset([], SR, formants=(0.9, 1.1))
    with pytest.raises(RuntimeError, match="praat-parselmouth"):
        shift_formants(vowel(), SR, 1.1)


def test_a_seed_makes_the_shift_repeatable():
    v = vowel()
    np.testing.assert_array_equal(shift_formants(v, SR, 1.1, seed=7), shift_formants(v, SR, 1.1, 7))
