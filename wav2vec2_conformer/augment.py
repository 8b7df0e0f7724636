"""Sox augmentation and the corpus file: an engine's wav -> 16 kHz mono 16-bit, trimmed,
augmented (speed, tempo, pitch, reverb with sox; noise at a chosen SNR with numpy; telephone
band with sox), peak-normalised, written atomically. `draw_augmentation` draws the effects of
one training utterance. `shift_formants` (Praat, through parselmouth) moves a voice's formants
and keeps its pitch and tempo: training uses it on the fly to make new speakers.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000


def run_tool(cmd: list[str], **kw) -> None:
    """Run a command-line tool; a failure raises with the first 500 characters of its stderr."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[:500]}")


def parselmouth_module():
    """Praat's Python binding, or a one-line error saying how to install it."""
    try:
        import parselmouth
    except ImportError as e:
        raise RuntimeError(
            "formant shifting needs praat-parselmouth: pip install 'wav2vec2-conformer[train]'"
        ) from e
    return parselmouth


def shift_formants(
    wav: np.ndarray, sampling_rate: int, ratio: float, seed: int | None = None
) -> np.ndarray:
    """Multiply the formant frequencies of mono ``wav`` by ``ratio`` keeping its pitch and
    length: Praat's "Change gender" (resample by ``ratio``, then PSOLA back to the original
    pitch and duration), the usual way to turn one speaker into a shorter- or longer-throated
    one. Audio Praat cannot analyse (too short, no voiced frame) comes back unchanged. PSOLA
    draws random pulses for unvoiced stretches: a ``seed`` makes the result repeatable."""
    parselmouth = parselmouth_module()
    sound = parselmouth.Sound(np.asarray(wav, dtype=np.float64), sampling_rate)
    if seed is not None:
        parselmouth.praat.run(f"random_initializeWithSeedUnsafelyButPredictably ({seed})")
    try:  # pitch floor and ceiling (Hz), formant ratio, new median (0: keep), range, duration
        out = parselmouth.praat.call(sound, "Change gender", 75, 600, ratio, 0, 1.0, 1.0)
    except parselmouth.PraatError:
        return wav
    finally:
        if seed is not None:
            parselmouth.praat.run("random_initializeSafelyAndUnpredictably ()")
    y = out.values[0, : len(wav)].astype(np.float32)
    return np.pad(y, (0, len(wav) - len(y)))


def draw_augmentation(rng: np.random.Generator, prob: float) -> dict:
    """With probability ``prob``, a non-empty random set of effects (see `render`)."""
    if rng.random() >= prob:
        return {}
    aug: dict = {}
    while not aug:
        r = rng.random()
        if r < 0.3:
            aug["speed"] = float(rng.uniform(0.9, 1.1))
        elif r < 0.6:
            aug["tempo"] = float(rng.uniform(0.85, 1.15))
        if rng.random() < 0.3:
            aug["pitch"] = float(rng.uniform(-300, 300))
        if rng.random() < 0.35:
            aug["reverb"] = [
                float(rng.uniform(10, 80)),
                float(rng.uniform(20, 80)),
                float(rng.uniform(10, 100)),
            ]
        if rng.random() < 0.5:
            color = str(rng.choice(["white", "pink", "brown"]))
            seed = int(rng.integers(2**31))
            aug["noise"] = {"snr": float(rng.uniform(8, 30)), "color": color, "seed": seed}
        if rng.random() < 0.15:
            aug["telephone"] = True
    return aug


def sox_effects(augment: dict) -> list[str]:
    """The sox effect chain for an augmentation dict (see `draw_augmentation`)."""
    fx: list[str] = []
    if "speed" in augment:  # tempo and pitch together
        fx += ["speed", f"{augment['speed']:.4f}"]
    if "tempo" in augment:  # duration only
        fx += ["tempo", "-s", f"{augment['tempo']:.4f}"]
    if "pitch" in augment:  # cents, duration kept
        fx += ["pitch", f"{augment['pitch']:.1f}"]
    if "reverb" in augment:
        r = augment["reverb"]  # reverberance %, HF damping %, room scale %
        fx += ["reverb", f"{r[0]:.1f}", f"{r[1]:.1f}", f"{r[2]:.1f}", "channels", "1"]
    return fx


TELEPHONE = ["sinc", "300-3400", "rate", "8000", "rate", "16000"]


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise: white (flat), pink (1/f power) or brown (1/f^2 power)."""
    white = rng.standard_normal(n)
    if color != "white":
        spec = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        spec /= f ** (0.5 if color == "pink" else 1.0)
        white = np.fft.irfft(spec, n)
    return white / (np.sqrt(np.mean(white**2)) + 1e-12)


def speech_power(x: np.ndarray, frame: int = 400) -> float:
    """Mean power of the frames within 30 dB of the loudest one (the speech, not the pauses)."""
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x**2))
    p = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    return float(np.mean(p[p >= p.max() * 1e-3]))


def trim_silence(x: np.ndarray, margin: float = 0.2, floor_db: float = -45.0) -> np.ndarray:
    """Cut leading and trailing silence, keeping ``margin`` seconds around the speech."""
    frame = 160
    n = len(x) // frame
    if n == 0:
        return x
    p = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = np.flatnonzero(p > p.max() * 10 ** (floor_db / 10))
    keep = int(margin * SAMPLE_RATE)
    start = max(active[0] * frame - keep, 0)
    end = min((active[-1] + 1) * frame + keep, len(x))
    return x[start:end]


def render(raw_wav: str, out_path: str, augment: dict, peak_db: float) -> float:
    """Turn an engine's wav into the corpus file; returns its duration in seconds.

    ``augment`` may hold speed, tempo, pitch, reverb (sox), noise ``{"snr": dB, "color":
    ...,"seed": int}`` (numpy) and ``telephone: True`` (sox, after the noise). An empty dict
    only converts. The result is peak-normalised to ``peak_db`` dBFS and written atomically
    (the format follows ``out_path``'s suffix: .flac or .wav, 16-bit).
    """
    with tempfile.TemporaryDirectory() as tmp:
        stage = os.path.join(tmp, "a.wav")
        run_tool(
            [
                "sox",
                raw_wav,
                "-b",
                "32",
                "-e",
                "floating-point",
                stage,
                "remix",
                "-",
                *sox_effects(augment),
                "rate",
                "-v",
                str(SAMPLE_RATE),
            ]
        )
        x, sr = sf.read(stage, dtype="float64")
        assert sr == SAMPLE_RATE and x.ndim == 1, (sr, x.shape)
        if not np.any(np.abs(x) > 1e-4):
            raise RuntimeError(f"{raw_wav}: silent output")
        x = trim_silence(x)
        if "noise" in augment:
            nz = augment["noise"]
            noise = colored_noise(len(x), nz["color"], np.random.default_rng(nz["seed"]))
            x = x + noise * np.sqrt(speech_power(x) / 10 ** (nz["snr"] / 10))
        if augment.get("telephone"):
            sf.write(stage, x, SAMPLE_RATE, subtype="FLOAT")
            band = os.path.join(tmp, "b.wav")
            run_tool(["sox", stage, "-b", "32", "-e", "floating-point", band, *TELEPHONE])
            x, _ = sf.read(band, dtype="float64")
    x = x * (10 ** (peak_db / 20) / (np.max(np.abs(x)) + 1e-12))
    write_atomic(out_path, x)
    return len(x) / SAMPLE_RATE


def write_atomic(path: str, x: np.ndarray) -> None:
    """Write 16-bit mono audio at `SAMPLE_RATE` to ``path`` via a temporary file + rename."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fmt = "FLAC" if path.endswith(".flac") else "WAV"
    tmp = f"{path}.tmp{os.getpid()}"
    sf.write(tmp, x, SAMPLE_RATE, subtype="PCM_16", format=fmt)
    os.replace(tmp, path)
