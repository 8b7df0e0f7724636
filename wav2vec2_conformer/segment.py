"""Where to cut long audio: fixed-length overlapping chunks, and the middles of pauses.

Pure functions on sample counts. A pause is a run of quiet frames; "quiet" is relative to the
recording itself: below a threshold between its quiet floor and its loud level (their 5th and
95th percentiles, in dB), so one setting serves clean synthetic silence and a room's background
noise alike. Pieces cut at pauses are sentence-like, what a model trained on sentences heard.
"""

from __future__ import annotations

import numpy as np


def chunk_spans(n: int, chunk: int, stride: int, hop: int) -> list[tuple[int, int, int, int]]:
    """Cut n samples into chunks. Returns (start, end, keep_from, keep_to) in samples: each
    chunk's slice of the input, and the part of the input it is responsible for.

    `chunk` and `stride` are multiples of `hop` (samples per output frame); consecutive chunks
    overlap by 2 * stride and hand over in the middle of the overlap.
    """
    if chunk <= 0 or n <= chunk:
        return [(0, n, 0, n)]
    step = chunk - 2 * stride
    if step <= 0 or stride % hop or chunk % hop:
        raise ValueError("chunk_length_s must exceed 2 * stride_s; both multiples of a frame")
    spans = []
    start = 0
    while True:
        end = min(start + chunk, n)
        last = end == n
        keep_from = 0 if start == 0 else start + stride
        keep_to = n if last else start + step + stride
        spans.append((start, end, keep_from, keep_to))
        if last:
            return spans
        start += step


def frame_levels_db(wav: np.ndarray, frame: int) -> np.ndarray:
    """Energy of each `frame` samples (the last partial frame included), in dB."""
    n = -(-len(wav) // frame)
    padded = np.zeros(n * frame, np.float64)
    padded[: len(wav)] = wav
    power = (padded.reshape(n, frame) ** 2).mean(axis=1)
    return 10 * np.log10(power + 1e-10)


def quiet_frames(levels_db: np.ndarray, depth: float = 0.25, range_db: float = 50.0) -> np.ndarray:
    """Frames below the threshold `depth` of the way from the floor (5th percentile) up to the
    loud level (95th); the threshold stays within 6 to `range_db` dB below the loud level."""
    floor, loud = np.percentile(levels_db, [5, 95])
    threshold = min(max(floor + depth * (loud - floor), loud - range_db), loud - 6.0)
    return levels_db < threshold


def pause_cuts(
    wav: np.ndarray,
    sampling_rate: int,
    frame: int,
    *,
    min_pause_s: float = 0.25,
    min_piece_s: float = 1.0,
    depth: float = 0.25,
) -> list[tuple[int, int]]:
    """(start, end) sample ranges covering `wav` end to end, cut in the middle of pauses of at
    least `min_pause_s`. Cuts fall on multiples of `frame` (a model's samples per output frame);
    a cut that would leave a piece shorter than `min_piece_s` is not made."""
    min_piece = max(int(round(min_piece_s * sampling_rate)), frame)
    if len(wav) < 2 * min_piece:
        return [(0, len(wav))]
    quiet = quiet_frames(frame_levels_db(wav, frame), depth)
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))  # +1 run start, -1 end
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    min_pause = int(np.ceil(min_pause_s * sampling_rate / frame))
    cuts = [0]
    for a, b in zip(starts, ends, strict=True):
        cut = (a + b) // 2 * frame
        if b - a >= min_pause and cut - cuts[-1] >= min_piece and len(wav) - cut >= min_piece:
            cuts.append(cut)
    cuts.append(len(wav))
    return list(zip(cuts[:-1], cuts[1:], strict=True))
