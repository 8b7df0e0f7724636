"""The pieces a long input is run as: cut at pauses and into chunks, batched through the model,
and their frames stitched back onto the input's time line.

A piece is a slice of normalised samples with the part of its input it answers for. Chunk
starts fall on frame boundaries (multiples of the feature encoder's stride), so a stitched
frame sees the same samples as in a single pass and differs only through the encoder's limited
context. Pieces cut at pauses are normalised on their own, as a sentence the model heard in
training would be. `chunk_settings` reads a model's settings for long inputs from its
preprocessor config; the `resolve_*` functions check an argument or take the model's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import numpy as np
import torch

from .segment import chunk_spans, pause_cuts

DEFAULT_CHUNK_LENGTH_S = 30.0  # for models whose preprocessor_config.json names none
DEFAULT_MIN_PAUSE_S = 0.25
MODEL_SETTING = "model"  # a long-input argument meaning: the model's own setting


def chunk_settings(config: Mapping[str, Any]) -> tuple[float | None, bool, float]:
    """A feature extractor config's settings for long inputs: `chunk_length_s` (seconds; 0 or
    null: never chunk; absent: 30), `split_at_pauses` (absent: false) and `min_pause_s` (the
    shortest pause cut at; absent: 0.25)."""
    return (
        resolve_chunk_length(config.get("chunk_length_s", DEFAULT_CHUNK_LENGTH_S)),
        resolve_split(config.get("split_at_pauses", False)),
        resolve_min_pause(config.get("min_pause_s", DEFAULT_MIN_PAUSE_S)),
    )


def resolve_split(value: Any, pipe: Any = None) -> bool:
    """`split_at_pauses`: True, False, or "model" for `pipe`'s own setting."""
    if value == MODEL_SETTING and pipe is not None:
        return pipe.split_at_pauses
    if not isinstance(value, bool):
        raise ValueError(f"split_at_pauses must be true or false, got {value!r}")
    return value


def resolve_chunk_length(value: Any, pipe: Any = None) -> float | None:
    """A chunk length in seconds, or None for never: `value` is seconds (0 or None: never) or
    "model" for `pipe`'s own setting."""
    if value == MODEL_SETTING and pipe is not None:
        return pipe.chunk_length_s
    return None if value is None or value == 0 else seconds(value, "chunk_length_s")


def resolve_min_pause(value: Any, pipe: Any = None) -> float:
    """The shortest pause to cut at, in seconds, or "model" for `pipe`'s own setting."""
    if value == MODEL_SETTING and pipe is not None:
        return pipe.min_pause_s
    return seconds(value, "min_pause_s")


def seconds(value: Any, name: str) -> float:
    """`value` as a positive number of seconds, or a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


@dataclass
class Piece:
    item: int  # which input it belongs to
    values: np.ndarray  # normalised samples of this chunk
    start: int  # sample offset of the chunk in its input
    keep: tuple[int, int]  # sample range of the input this chunk answers for (end 0: to the end)


def plan_pieces(
    wav: np.ndarray,
    item: int,
    normalise: Callable[[np.ndarray], np.ndarray],
    *,
    sampling_rate: int,
    hop: int,
    need: int,
    chunk: int,
    stride: int,
    split: bool,
    min_pause_s: float = DEFAULT_MIN_PAUSE_S,
) -> tuple[list[Piece], list[int]]:
    """One input's pieces, and the frames where its pause pieces begin (after the first).

    `hop`: samples per output frame; `need`: the model's receptive field in samples; `chunk`,
    `stride`: chunk length and the overlap dropped at inner chunk edges, in samples (chunk 0:
    never chunk); `split`: cut at pauses of `min_pause_s` or more first (`segment.pause_cuts`)."""
    pieces: list[Piece] = []
    cuts: list[int] = []
    spans = pause_cuts(wav, sampling_rate, hop, min_pause_s=min_pause_s) if split else None
    for a, b in spans or [(0, len(wav))]:
        # a piece is normalised alone; one before the end takes the samples after it that its
        # last frame needs (receptive field - hop), so its frames fill [a, b) exactly
        last = b == len(wav)
        if a > 0:
            cuts.append(a // hop)
        values = normalise(wav[a : b if last else b + need - hop])
        for start, end, k0, k1 in chunk_spans(len(values), chunk, stride, hop):
            keep_to = 0 if last and k1 == len(values) else a + min(k1, b - a)
            pieces.append(Piece(item, values[start:end], a + start, (a + k0, keep_to)))
    return pieces, cuts


def run_pieces(
    model: torch.nn.Module, pieces: Sequence[Piece], batch_size: int, hop: int, use_mask: bool
) -> list[np.ndarray]:
    """Run the model on pieces batched by similar length; each piece's kept log-probs
    (frames, vocab).

    Pieces of different lengths share a batch only where padding cannot change a piece's
    frames: with an attention mask, a "layer" feature norm, no adapter, and the model's
    `mask_padding_in_convs` on (`ASRPipeline` turns it on). A group-norm feature encoder
    normalises over the whole signal, zero padding included, a model given no attention mask
    attends to the padding, and an adapter's strided convs see it: there only pieces of equal
    length (the full chunks of long inputs, mostly) share a batch."""
    cfg = model.config
    exact = use_mask and model.base.encoder.mask_conv_padding
    pad_free = not exact or cfg.feat_extract_norm == "group" or cfg.add_adapter
    device = next(model.parameters()).device
    out: list[np.ndarray | None] = [None] * len(pieces)
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].values))
    # runs that may share a batch: equal lengths where padding would show, else all pieces
    runs = [list(g) for _, g in groupby(order, key=lambda i: len(pieces[i].values) * pad_free)]
    batches = [run[b : b + batch_size] for run in runs for b in range(0, len(run), batch_size)]
    for idx in batches:
        lengths = [len(pieces[i].values) for i in idx]
        x = np.zeros((len(idx), max(lengths)), dtype=np.float32)  # (B, T)
        mask = np.zeros_like(x, dtype=np.int64)
        for row, i in enumerate(idx):
            x[row, : lengths[row]] = pieces[i].values
            mask[row, : lengths[row]] = 1
        xt = torch.from_numpy(x).to(device)
        mt = torch.from_numpy(mask).to(device) if use_mask else None
        with torch.inference_mode():
            logp = model(xt, attention_mask=mt).logits.float().log_softmax(-1).cpu().numpy()
        frames = model.feat_extract_output_lengths(torch.tensor(lengths)).tolist()
        for row, i in enumerate(idx):
            p = pieces[i]
            first = (p.keep[0] - p.start) // hop
            last = frames[row] if p.keep[1] == 0 else min((p.keep[1] - p.start) // hop, frames[row])
            out[i] = logp[row, first:last]
    return out


def stitch(pieces: Sequence[Piece], logps: Sequence[np.ndarray], n_items: int) -> list[np.ndarray]:
    """Each input's frames: its pieces' log-probs in order, concatenated."""
    merged: list[list[np.ndarray]] = [[] for _ in range(n_items)]
    for p, lp in zip(pieces, logps, strict=True):
        merged[p.item].append(lp)
    return [np.concatenate(parts, axis=0) for parts in merged]
