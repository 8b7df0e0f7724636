"""Text-to-speech engines, their voices, and sox augmentation for the synthetic corpus.

Six Debian engines (see ``scripts/install_tts.sh``): espeak-ng's formant voices ("espeak"),
mbrola diphone voices driven by espeak-ng ("mbrola"), flite, festival, pico and RHVoice's
statistical parametric voices ("rhvoice", trained on CMU ARCTIC and other recordings). A `Voice`
names one engine voice; its ``speaker`` names the recorded speaker or diphone set behind it,
so that splits can be kept apart by speaker (festival's us2_mbrola and espeak-ng's mb-us2
are the same speaker; so are flite's awb and RHVoice's alan, both from Alan W Black's ARCTIC
recordings, and flite's slt and RHVoice's slt). Voices of the speakers in `RESERVED_SPEAKERS`
belong to an independent evaluation and are never used for training or tuning.

Each engine writes a wav at its own rate; `render` turns it into the corpus file: 16 kHz
mono 16-bit, silence trimmed, optionally augmented (speed, tempo, pitch, reverb with sox;
noise at a chosen SNR with numpy; telephone band with sox), peak-normalised, written
atomically.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
ENGINES = ("espeak", "mbrola", "flite", "festival", "pico", "rhvoice")
# Engines that take a pitch factor (prosody["pitch"] in `synthesize`); the others ignore it.
PITCH_ENGINES = frozenset({"espeak", "mbrola", "pico", "rhvoice"})
# Speakers (recordings / diphone sets) kept for an independent evaluation.
RESERVED_SPEAKERS = frozenset({"slt", "mbrola-us1", "pico-en-GB"})

ESPEAK_DATA = next(iter(glob.glob("/usr/lib/*/espeak-ng-data")), "/usr/share/espeak-ng-data")
MBROLA_DIR = "/usr/share/mbrola"
FESTIVAL_VOICES = "/usr/share/festival/voices"
PICO_LANG = "/usr/share/pico/lang"
RHVOICE_VOICES = "/usr/share/RHVoice/voices"


@dataclass(frozen=True)
class Voice:
    name: str  # unique id, "engine:arg", e.g. "flite:awb"
    engine: str  # one of ENGINES
    arg: str  # what the engine is given: "awb", "mb-us2", "en-us+f3", "kal_diphone", "en-US"
    speaker: str  # recorded speaker / diphone set; no speaker is in two splits
    weight: float = 1.0  # relative share of the corpus among its split's voices

    @property
    def reserved(self) -> bool:
        return self.speaker in RESERVED_SPEAKERS

    @property
    def slug(self) -> str:
        """File-system-safe name, used as the voice's folder."""
        return self.name.replace(":", "-").replace("+", "_")


_ESPEAK_ACCENTS = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
_ESPEAK_VARIANTS = (
    "",
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt4",
)
_MBROLA_NATIVE = ("us1", "us2", "us3", "en1")
_MBROLA_ACCENTED = (
    "af1",
    "de1",
    "de2",
    "de3",
    "de4",
    "de5",
    "de6",
    "fr1",
    "fr4",
    "gr2",
    "hu1",
    "nl2",
    "pl1",
    "ro1",
    "sw1",
    "sw2",
)
_FLITE = {"kal": "kal", "kal16": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}
_FESTIVAL = {
    "kal_diphone": ("kal", 1.0),
    "ked_diphone": ("ked", 1.0),
    "rab_diphone": ("rab", 1.0),
    "don_diphone": ("don", 0.5),  # a minimal diphone set: some diphones are missing
    "en1_mbrola": ("mbrola-en1", 1.0),
    "us2_mbrola": ("mbrola-us2", 1.0),
    "us3_mbrola": ("mbrola-us3", 1.0),
    "us1_mbrola": ("mbrola-us1", 1.0),
    "cmu_us_slt_arctic_hts": ("slt", 1.0),
}
# RHVoice's English voices (Debian rhvoice-english): voice -> speaker.
_RHVOICE = {
    "alan": "awb",
    "bdl": "bdl",
    "clb": "clb",
    "slt": "slt",
    "lyubov": "rhvoice-lyubov",
    "evgeniy-eng": "rhvoice-evgeniy",  # Russian-accented English
}


def catalogue() -> list[Voice]:
    """Every voice the builder knows, installed or not."""
    voices = [
        Voice(f"espeak:{a}+{v}" if v else f"espeak:{a}", "espeak", f"{a}+{v}" if v else a, "espeak")
        for a in _ESPEAK_ACCENTS
        for v in _ESPEAK_VARIANTS
    ]
    voices += [Voice(f"mbrola:mb-{d}", "mbrola", f"mb-{d}", f"mbrola-{d}") for d in _MBROLA_NATIVE]
    # Accented English: a foreign diphone set reading English; a smaller share each.
    voices += [
        Voice(f"mbrola:mb-{d}-en", "mbrola", f"mb-{d}-en", f"mbrola-{d}", 0.6)
        for d in _MBROLA_ACCENTED
    ]
    voices += [Voice(f"flite:{v}", "flite", v, s) for v, s in _FLITE.items()]
    voices += [Voice(f"festival:{v}", "festival", v, s, w) for v, (s, w) in _FESTIVAL.items()]
    voices += [Voice(f"pico:{v}", "pico", v, f"pico-{v}") for v in ("en-US", "en-GB")]
    voices += [Voice(f"rhvoice:{v}", "rhvoice", v, s) for v, s in _RHVOICE.items()]
    return voices


def _mbrola_db(speaker: str) -> str:
    db = speaker.removeprefix("mbrola-")
    return os.path.join(MBROLA_DIR, db, db)


def installed_voices(engines: tuple[str, ...] = ENGINES) -> list[Voice]:
    """The catalogue's voices that can be synthesised on this machine."""
    have = {e: False for e in ENGINES}
    have["espeak"] = have["mbrola"] = shutil.which("espeak-ng") is not None
    mbrola = shutil.which("mbrola") is not None
    have["mbrola"] = have["mbrola"] and mbrola
    have["flite"] = shutil.which("flite") is not None
    have["festival"] = shutil.which("festival") is not None
    have["pico"] = shutil.which("pico2wave") is not None
    have["rhvoice"] = shutil.which("RHVoice-test") is not None
    flite_voices: set[str] = set()
    if have["flite"]:
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        flite_voices = set(out.split(":", 1)[-1].split())
    gmw = os.path.join(ESPEAK_DATA, "lang", "gmw")  # espeak-ng's West Germanic languages
    accents = {p.lower() for p in os.listdir(gmw)} if os.path.isdir(gmw) else set()
    found = []
    for v in catalogue():
        if v.engine not in engines or not have[v.engine]:
            continue
        if v.engine == "espeak":
            accent, _, variant = v.arg.partition("+")
            ok = accent in accents and (
                not variant or os.path.exists(os.path.join(ESPEAK_DATA, "voices", "!v", variant))
            )
        elif v.engine == "mbrola":
            espeak_voice = os.path.join(ESPEAK_DATA, "voices", "mb", v.arg)
            ok = os.path.exists(espeak_voice) and os.path.exists(_mbrola_db(v.speaker))
        elif v.engine == "flite":
            ok = v.arg in flite_voices
        elif v.engine == "festival":
            ok = bool(glob.glob(os.path.join(FESTIVAL_VOICES, "*", v.arg)))
            if v.speaker.startswith("mbrola-"):
                ok = ok and mbrola and os.path.exists(_mbrola_db(v.speaker))
        elif v.engine == "pico":
            ok = bool(glob.glob(os.path.join(PICO_LANG, f"{v.arg}_*")))
        else:  # rhvoice
            ok = os.path.isdir(os.path.join(RHVOICE_VOICES, v.arg))
        if ok:
            found.append(v)
    return found


# ---- engines: text -> wav at the engine's own rate ----------------------------------------


def _run(cmd: list[str], **kw) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[:500]}")


def _percent(prosody: dict) -> tuple[int, int]:
    """(rate, pitch) of ``prosody`` in percent, as pico and RHVoice take them."""
    return round(100 * prosody["rate"]), round(100 * prosody.get("pitch", 1.0))


def synthesize(voice: Voice, items: list[tuple[str, dict, str]]) -> None:
    """Speak each ``(text, prosody, wav_path)`` of ``items`` with ``voice``.

    ``prosody`` holds ``rate`` (speaking-rate factor, 1 = the voice's default) and, for the
    engines that take it, ``pitch`` (factor on the voice's pitch). Festival runs once for all
    items (one process per voice and batch); the other engines run once per item. Text must
    be plain (letters, apostrophes, spaces, hyphens and ,;:.!?), as `sentences.clean_sentence`
    makes it.
    """
    if voice.engine in ("espeak", "mbrola"):
        for text, p, path in items:
            wpm = round(175 * p["rate"])
            pitch = int(np.clip(round(50 * p.get("pitch", 1.0)), 0, 99))
            _run(["espeak-ng", "-v", voice.arg, "-s", str(wpm), "-p", str(pitch), "-w", path, text])
    elif voice.engine == "flite":
        for text, p, path in items:
            stretch = f"duration_stretch={1.0 / p['rate']:.3f}"
            _run(["flite", "-voice", voice.arg, "--setf", stretch, "-t", text, "-o", path])
    elif voice.engine == "pico":
        for text, p, path in items:
            speed, pitch = _percent(p)
            markup = f"<speed level='{speed}'><pitch level='{pitch}'>{text}</pitch></speed>"
            _run(["pico2wave", "-l", voice.arg, "-w", path, markup])
    elif voice.engine == "rhvoice":
        for text, p, path in items:  # rate and pitch in percent of the voice's own
            rate, pitch = _percent(p)
            cmd = ["RHVoice-test", "-p", voice.arg, "-r", str(rate), "-t", str(pitch), "-o", path]
            _run(cmd, input=text)
    elif voice.engine == "festival":
        lines = [f"(voice_{voice.arg})"]
        for text, p, path in items:
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / p['rate']:.3f})")
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{path}" \'riff)')
        with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as f:
            f.write("\n".join(lines) + "\n")
        try:
            _run(["festival", "--batch", f.name], timeout=60 + 10 * len(items))
        finally:
            os.unlink(f.name)
    else:
        raise ValueError(f"unknown engine {voice.engine!r}")


def draw_augmentation(rng: np.random.Generator, prob: float) -> dict:
    """With probability ``prob``, a non-empty random set of effects (see `synth.render`)."""
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


# ---- augmentation and the final file -------------------------------------------------------


def sox_effects(augment: dict) -> list[str]:
    """The sox effect chain for an augmentation dict (see `corpus.draw_augmentation`)."""
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
        _run(
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
            _run(["sox", stage, "-b", "32", "-e", "floating-point", band, *TELEPHONE])
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


def synthesize_job(
    voice: Voice, items: list[dict], out: str
) -> list[tuple[str, float | None, str]]:
    """Synthesise and render one job; returns ``(id, seconds or None, error)`` per item."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = {r["id"]: os.path.join(tmp, f"{r['id']}.wav") for r in items}
        batch = [(r["spoken"], r["prosody"], raw[r["id"]]) for r in items]
        errors: dict[str, str] = {}
        try:
            synthesize(voice, batch)
        except Exception:  # one bad item must not lose the job: retry the missing ones alone
            for b in batch:
                if not os.path.exists(b[2]):
                    try:
                        synthesize(voice, [b])
                    except Exception as e:  # noqa: BLE001 - reported below
                        errors[b[2]] = str(e)
        for r in items:
            try:
                if not os.path.exists(raw[r["id"]]):
                    raise RuntimeError(f"engine wrote no audio {errors.get(raw[r['id']], '')}")
                dur = render(raw[r["id"]], os.path.join(out, r["path"]), r["augment"], r["peak_db"])
                results.append((r["id"], dur, ""))
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                results.append((r["id"], None, str(e)[:300]))
    return results
