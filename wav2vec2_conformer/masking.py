"""Pure functions for masks: padding masks from lengths, SpecAugment spans, negative sampling.

`compute_mask_indices` and `sample_negative_indices` have the semantics of the reference's private
`_compute_mask_indices` / `_sample_negative_indices`; they draw from an explicit
`numpy.random.Generator` (a fresh unseeded one when none is given).
"""

from __future__ import annotations

import numpy as np
import torch


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool, True on valid positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def compute_mask_indices(
    shape: tuple[int, int],
    mask_prob: float,
    mask_length: int,
    attention_mask: torch.Tensor | np.ndarray | None = None,
    min_masks: int = 0,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Random spans to mask, SpecAugment / wav2vec 2.0 style. Returns a (B, T) bool array.

    For each row of valid length L, about `mask_prob * L / mask_length` span starts (probabilistic
    rounding with one shared epsilon, at least `min_masks`) are drawn without replacement from
    [0, L - mask_length]; each masks `mask_length` frames. Spans may overlap, so `mask_prob` is an
    upper bound on the masked share. `attention_mask` (B, T), right-padded, limits each row.
    """
    rng = generator if generator is not None else np.random.default_rng()
    batch_size, seq_len = shape
    if mask_length < 1:
        raise ValueError("mask_length has to be at least 1")
    if mask_length > seq_len:
        raise ValueError(
            f"mask_length ({mask_length}) must not exceed the sequence length ({seq_len})"
        )
    epsilon = rng.random()

    def num_spans(length: int) -> int:
        n = max(int(mask_prob * length / mask_length + epsilon), min_masks)
        if n * mask_length > seq_len:
            n = seq_len // mask_length
        return max(min(n, length - (mask_length - 1)), 0)

    if attention_mask is not None:
        am = attention_mask
        lengths = am.detach().cpu().numpy() if isinstance(am, torch.Tensor) else np.asarray(am)
        lengths = lengths.astype(np.int64).sum(-1).tolist()
    else:
        lengths = [seq_len] * batch_size
    mask = np.zeros((batch_size, seq_len), dtype=bool)
    max_spans = num_spans(seq_len)
    if max_spans == 0:
        return mask
    for b, length in enumerate(lengths):
        n = num_spans(int(length))
        starts = rng.choice(max(length - (mask_length - 1), 0), n, replace=False)
        # spans (start, start + mask_length), clipped to the row
        idx = (starts[:, None] + np.arange(mask_length)[None, :]).reshape(-1)
        mask[b, np.minimum(idx, seq_len - 1)] = True
    return mask


def sample_negative_indices(
    features_shape: tuple[int, int],
    num_negatives: int,
    mask_time_indices: np.ndarray | torch.Tensor | None = None,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Distractor indices for the contrastive loss. Returns (B, T, K) int32 indices into the
    flattened (B*T) feature axis.

    For each masked frame of row b, K other masked frames of the same row are drawn uniformly
    (never the frame itself). Unmasked frames get index b*T (row offset only), as the reference.
    """
    rng = generator if generator is not None else np.random.default_rng()
    batch_size, seq_len = features_shape
    if mask_time_indices is None:
        mask = np.ones(features_shape, dtype=bool)
    elif isinstance(mask_time_indices, torch.Tensor):
        mask = mask_time_indices.detach().cpu().numpy().astype(bool)
    else:
        mask = np.asarray(mask_time_indices).astype(bool)
    out = np.zeros((batch_size, seq_len, num_negatives), dtype=np.int32)
    frames = np.arange(seq_len)
    for b in range(batch_size):
        masked = frames[mask[b]]  # (M,) positions of masked frames
        m = len(masked)
        if m >= 2:
            # draw from the M-1 others: sample in [0, M-2], shift those >= own index up by one
            draws = rng.integers(0, m - 1, size=(m, num_negatives))
            draws[draws >= np.arange(m)[:, None]] += 1
            out[b, mask[b]] = masked[draws]
        out[b] += b * seq_len
    return out
