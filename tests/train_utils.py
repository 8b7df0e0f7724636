"""Training-test helpers: a few real spoken utterances (espeak-ng) and a test-size model."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SENTENCES = [
    "the cat sat on the mat",
    "a big dog ran home",
    "she sells sea shells",
    "open the red door",
    "we like green apples",
    "birds fly over the lake",
]

# Smaller than the "tiny" preset (~0.4M parameters): trains to a handful of utterances in seconds.
TEST_MODEL = dict(
    hidden_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=192,
    conv_dim=[64, 64, 64, 96, 96, 96, 96],
    conv_depthwise_kernel_size=7,
    codevector_dim=64,
    proj_codevector_dim=32,
    num_codevectors_per_group=32,
    num_codevector_groups=2,
    num_negatives=20,
)

NO_DROPOUT = dict(
    hidden_dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    feat_proj_dropout=0.0,
    final_dropout=0.0,
    conformer_conv_dropout=0.0,
)
NO_RANDOMNESS = dict(NO_DROPOUT, layerdrop=0.0, mask_time_prob=0.0)


def need_espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        pytest.skip(
            "espeak-ng is not installed (apt-get install espeak-ng); it speaks the test audio"
        )
    return path


def speak(folder: Path, sentences: list[str] = SENTENCES, voice: str = "en-us") -> list[Path]:
    """One wav (espeak-ng's own 22.05 kHz; training resamples it) per sentence."""
    espeak = need_espeak()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, text in enumerate(sentences):
        path = folder / f"utt{i}.wav"
        if not path.exists():
            subprocess.run(
                [espeak, "-v", voice, "-s", "170", "-w", str(path), text],
                check=True,
                capture_output=True,
            )
        paths.append(path)
    return paths


def write_manifest(path: Path, rows: list[tuple[str, str | None]]) -> Path:
    lines = [a if t is None else f"{a}\t{t}" for a, t in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def corpus(folder: Path, sentences: list[str] = SENTENCES) -> Path:
    """Speak `sentences` into folder/audio and write folder/train.tsv (relative paths)."""
    wavs = speak(folder / "audio", sentences)
    rows = [(os.path.relpath(w, folder), t) for w, t in zip(wavs, sentences, strict=True)]
    return write_manifest(folder / "train.tsv", rows)


def finetune_argv(manifest: Path, out: Path, *extra: str) -> list[str]:
    """`finetune` CLI arguments training and evaluating on `manifest`, writing to `out`."""
    return ["finetune", "--train", str(manifest), "--dev", str(manifest), "--out", str(out), *extra]
