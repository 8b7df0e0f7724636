"""Audio files in, mono float32 at the model's rate out.

`load_audio` decodes with soundfile (libsndfile: wav, flac, ogg/vorbis/opus, mp3 where the installed
libsndfile has it, aiff, ...), converts integer PCM to float in [-1, 1], averages the channels and
resamples with soxr (HQ). Every failure is an `AudioError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# Extensions `list_audio_files` picks up inside directories (lower case, with the dot).
AUDIO_EXTENSIONS = (
    ".wav",
    ".wave",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aiff",
    ".aif",
    ".aifc",
    ".au",
    ".snd",
    ".w64",
    ".rf64",
    ".caf",
)


class AudioError(ValueError):
    """An audio file that cannot be used; the message is one line and names the file."""


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels: `(samples,)` stays as is, `(samples, channels)` -> `(samples,)`."""
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(
            f"expected audio of shape (samples,) or (samples, channels), got {x.shape}"
        )
    return x.mean(axis=1, dtype=x.dtype) if x.shape[1] > 1 else x[:, 0]


def resample(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Resample `x` (samples,) or (samples, channels) from `orig_sr` to `new_sr` Hz (soxr HQ)."""
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sampling rates must be positive, got {orig_sr} -> {new_sr}")
    if orig_sr == new_sr or len(x) == 0:
        return x
    return soxr.resample(x, orig_sr, new_sr, quality="HQ")


def load_audio(path: str | os.PathLike, sampling_rate: int = 16000) -> np.ndarray:
    """Read an audio file as mono float32 `(samples,)` at `sampling_rate` Hz."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        with sf.SoundFile(str(path)) as f:
            declared, orig_sr, fmt = f.frames, f.samplerate, f.format
            x = f.read(
                dtype="float32", always_2d=True
            )  # (samples, channels), ints scaled to [-1, 1]
    except sf.SoundFileError as e:
        reason = str(e).replace(f"Error opening {str(path)!r}: ", "").replace("Error : ", "")
        reason = " ".join(reason.split())  # one line
        raise AudioError(
            f"{path}: cannot decode audio (not audio, corrupt or truncated): {reason}"
        ) from None
    except OSError as e:
        raise AudioError(f"{path}: cannot read file: {e.strerror or e}") from None

    # libsndfile shortens a WAV whose data ends early to what is there, so read its header too.
    if fmt in ("WAV", "WAVEX"):
        declared = max(declared, _wav_declared_frames(path) or 0)
    # MP3 lengths can be estimates (VBR without a Xing header): only a gross shortfall counts.
    tolerance = 0.1 * declared if fmt == "MP3" else 0
    if declared - len(x) > tolerance:
        raise AudioError(f"{path}: truncated: header declares {declared} samples, found {len(x)}")
    if len(x) == 0:
        raise AudioError(f"{path}: contains no audio samples")
    if not np.isfinite(x).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    return np.ascontiguousarray(resample(to_mono(x), orig_sr, sampling_rate), dtype=np.float32)


def list_audio_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories (recursively, sorted) into the audio files they hold.

    Paths that are not directories are passed through unchanged, missing ones too, so that the
    caller reports each bad file when it loads it. A directory without audio raises `AudioError`.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
            continue
        found = sorted(
            f
            for f in p.rglob("*")
            if f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith(".") and f.is_file()
        )
        if not found:
            raise AudioError(f"{p}: directory holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
        out.extend(found)
    return out


def _wav_declared_frames(path: Path) -> int | None:
    """Frames the RIFF/WAVE header declares (data chunk size / block align), None if unknown."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = 0
        while len(chunk := f.read(8)) == 8:
            cid, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if cid == b"fmt ":
                block_align = int.from_bytes(f.read(size)[12:14], "little")
                f.seek(size & 1, 1)
            elif cid == b"data":
                # 0 and 0xFFFFFFFF are what streaming writers leave when the size is unknown.
                if block_align == 0 or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                f.seek(size + (size & 1), 1)
    return None
