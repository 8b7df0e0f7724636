"""Text-to-speech engines and their voices for the synthetic corpus.

Six Debian engines (see ``scripts/install_tts.sh``): espeak-ng's formant voices ("espeak"),
mbrola diphone voices driven by espeak-ng ("mbrola"), flite, festival, pico and RHVoice's
statistical parametric voices ("rhvoice", trained on CMU ARCTIC and other recordings); and
the neural voices of Piper ("piper", `piper_voices`) and Kokoro-82M ("kokoro", `kokoro_voices`),
from PyPI. A `Voice` names one engine voice; its ``speaker`` names the recorded speaker or
diphone set behind it, so that splits can be kept apart by speaker (festival's us2_mbrola and
espeak-ng's mb-us2 are the same speaker; so are flite's awb and RHVoice's alan, both from Alan W
Black's ARCTIC recordings, and flite's slt and RHVoice's slt). Voices of the speakers in
`RESERVED_SPEAKERS` belong to an independent evaluation and are never used for training or
tuning.

Each engine writes a wav at its own rate; `augment.render` turns it into the corpus file.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from wav2vec2_conformer import kokoro_voices, piper_voices
from wav2vec2_conformer.augment import render, run_tool

ENGINES = ("espeak", "mbrola", "flite", "festival", "pico", "rhvoice", "piper", "kokoro")
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
    opt_in: bool = False  # used only when named (`w2vc corpus --voices`)

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
# Foreign diphone sets espeak-ng has no English voice for: this project pairs each with
# espeak-ng's English phonemes through the set's own phoneme table, in a voice file written at
# synthesis time (`_paired_voice_data`). Kept: the sets that lose no more diphones on English
# text than espeak-ng's own accented voices do and that the bundled model of stage 12 could
# still follow (`scripts/screen_mbrola.py`, the README). Opt-in (`Voice.opt_in`).
# diphone set -> (espeak-ng phoneme table in mbrola_ph/, gender)
_MBROLA_PAIRED = {
    "ca1": ("ca_phtrans", "male"),
    "cr1": ("cr1_phtrans", "male"),
    "de7": ("de6_phtrans", "female"),
    "es1": ("es_phtrans", "male"),
    "es2": ("es_phtrans", "male"),
    "fr2": ("fr_phtrans", "female"),
    "fr3": ("fr_phtrans", "male"),
    "fr5": ("fr_phtrans", "male"),
    "fr6": ("fr_phtrans", "male"),
    "fr7": ("fr_phtrans", "male"),
    "id1": ("id1_phtrans", "male"),
}
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
    voices += [
        Voice(f"mbrola:mb-{d}-en", "mbrola", f"mb-{d}-en", f"mbrola-{d}", 0.6, opt_in=True)
        for d in _MBROLA_PAIRED
    ]
    voices += [Voice(f"flite:{v}", "flite", v, s) for v, s in _FLITE.items()]
    voices += [Voice(f"festival:{v}", "festival", v, s, w) for v, (s, w) in _FESTIVAL.items()]
    voices += [Voice(f"pico:{v}", "pico", v, f"pico-{v}") for v in ("en-US", "en-GB")]
    voices += [Voice(f"rhvoice:{v}", "rhvoice", v, s) for v, s in _RHVOICE.items()]
    voices += [Voice(n, "piper", a, s) for n, a, s in piper_voices.voices()]  # the ones installed
    # Kokoro's five voices (weight 1) and their blends (weight 0.5: five more voices' worth)
    voices += [
        Voice(f"kokoro:{v}", "kokoro", v, f"kokoro-{v}", 0.5 if "+" in v else 1.0)
        for v in kokoro_voices.voice_names()
    ]
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
    have["piper"] = piper_voices.available()
    have["kokoro"] = kokoro_voices.available()
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
            db = _paired_db(v)
            if db:  # its phoneme table; else espeak-ng's voice file
                needs = os.path.join(ESPEAK_DATA, "mbrola_ph", _MBROLA_PAIRED[db][0])
            else:
                needs = os.path.join(ESPEAK_DATA, "voices", "mb", v.arg)
            ok = os.path.exists(needs) and os.path.exists(_mbrola_db(v.speaker))
        elif v.engine == "flite":
            ok = v.arg in flite_voices
        elif v.engine == "festival":
            ok = bool(glob.glob(os.path.join(FESTIVAL_VOICES, "*", v.arg)))
            if v.speaker.startswith("mbrola-"):
                ok = ok and mbrola and os.path.exists(_mbrola_db(v.speaker))
        elif v.engine == "pico":
            ok = bool(glob.glob(os.path.join(PICO_LANG, f"{v.arg}_*")))
        elif v.engine == "rhvoice":
            ok = os.path.isdir(os.path.join(RHVOICE_VOICES, v.arg))
        else:  # piper lists only the models it found; kokoro's voices come with its package
            ok = True
        if ok:
            found.append(v)
    return found


# ---- engines: text -> wav at the engine's own rate ----------------------------------------


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
        with tempfile.TemporaryDirectory() as tmp:
            data = _paired_voice_data(voice, tmp)
            for text, p, path in items:
                wpm = round(175 * p["rate"])
                pitch = int(np.clip(round(50 * p.get("pitch", 1.0)), 0, 99))
                cmd = ["espeak-ng", *data, "-v", voice.arg, "-s", str(wpm), "-p", str(pitch)]
                run_tool([*cmd, "-w", path, text])
    elif voice.engine == "flite":
        for text, p, path in items:
            stretch = f"duration_stretch={1.0 / p['rate']:.3f}"
            run_tool(["flite", "-voice", voice.arg, "--setf", stretch, "-t", text, "-o", path])
    elif voice.engine == "pico":
        for text, p, path in items:
            speed, pitch = _percent(p)
            markup = f"<speed level='{speed}'><pitch level='{pitch}'>{text}</pitch></speed>"
            run_tool(["pico2wave", "-l", voice.arg, "-w", path, markup])
    elif voice.engine == "rhvoice":
        for text, p, path in items:  # rate and pitch in percent of the voice's own
            rate, pitch = _percent(p)
            cmd = ["RHVoice-test", "-p", voice.arg, "-r", str(rate), "-t", str(pitch), "-o", path]
            run_tool(cmd, input=text)
    elif voice.engine == "piper":
        piper_voices.synthesize(voice.arg, items)
    elif voice.engine == "kokoro":
        kokoro_voices.synthesize(voice.arg, items)
    elif voice.engine == "festival":
        lines = [f"(voice_{voice.arg})"]
        for text, p, path in items:
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / p['rate']:.3f})")
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{path}" \'riff)')
        with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as f:
            f.write("\n".join(lines) + "\n")
        try:
            run_tool(["festival", "--batch", f.name], timeout=60 + 10 * len(items))
        finally:
            os.unlink(f.name)
    else:
        raise ValueError(f"unknown engine {voice.engine!r}")


def _paired_db(voice: Voice) -> str | None:
    """The diphone set of a voice of `_MBROLA_PAIRED`; None for other voices."""
    db = voice.speaker.removeprefix("mbrola-")
    return db if voice.engine == "mbrola" and db in _MBROLA_PAIRED else None


def _paired_voice_data(voice: Voice, folder: str) -> list[str]:
    """For a voice of `_MBROLA_PAIRED`, the espeak-ng options that find its voice file (written
    into ``folder``, see `espeak_data_view`); [] for other voices."""
    db = _paired_db(voice)
    if not db:
        return []
    return espeak_data_view(folder, {voice.arg: paired_voice_text(db, *_MBROLA_PAIRED[db])})


def paired_voice_text(db: str, table: str, gender: str) -> str:
    """An espeak-ng voice file: English phonemes spoken by mbrola diphone set ``db`` through the
    phoneme table ``table`` (a file of espeak-ng's mbrola_ph/)."""
    return f"name en-{db}\nlanguage en 10\ngender {gender}\n\nmbrola {db} {table}\n"


def espeak_data_view(folder: str, voice_files: dict[str, str]) -> list[str]:
    """Build in ``folder`` a view of espeak-ng's data (links to every part of it) with the voice
    files ``voice_files`` (name -> text) added under voices/paired/, and return the espeak-ng
    options that use it. (espeak-ng finds voices only under its data folder, and ``-v`` takes
    no path longer than 40 characters.)"""
    for name in os.listdir(ESPEAK_DATA):
        if name != "voices":
            os.symlink(os.path.join(ESPEAK_DATA, name), os.path.join(folder, name))
    voices = os.path.join(ESPEAK_DATA, "voices")
    os.makedirs(os.path.join(folder, "voices", "paired"))
    for name in os.listdir(voices):
        os.symlink(os.path.join(voices, name), os.path.join(folder, "voices", name))
    for name, text in voice_files.items():
        with open(os.path.join(folder, "voices", "paired", name), "w", encoding="utf-8") as f:
            f.write(text)
    return ["--path", folder]


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
