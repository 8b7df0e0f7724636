"""Learning-rate schedules as pure functions of the update number: `factor(update) * peak_lr`.

`update` counts finished optimizer steps (0 for the first step), so a resumed run picks up the
same rates from the update number alone.
"""

from __future__ import annotations

import math


def tri_stage(
    update: int,
    max_updates: int,
    phase_ratio: tuple[float, float, float] = (0.1, 0.4, 0.5),
    init_scale: float = 0.01,
    final_scale: float = 0.05,
) -> float:
    """fairseq's tri-stage schedule: linear warm-up from `init_scale` to 1, hold at 1, then
    exponential decay to `final_scale`; the three phases take `phase_ratio` of `max_updates`.
    After the last phase the factor stays at `final_scale`."""
    if abs(sum(phase_ratio) - 1.0) > 1e-6:
        raise ValueError(f"phase_ratio must sum to 1, got {phase_ratio}")
    warmup, hold, decay = (int(r * max_updates) for r in phase_ratio)
    if update < warmup:
        return init_scale + (1.0 - init_scale) * update / warmup
    update -= warmup
    if update < hold:
        return 1.0
    update -= hold
    if update < decay:
        return math.exp(math.log(final_scale) * update / decay)
    return final_scale


def warmup_decay(
    update: int,
    max_updates: int,
    warmup_updates: int,
    kind: str = "linear",
    final_scale: float = 0.0,
) -> float:
    """Linear warm-up from 0 over `warmup_updates`, then a `kind` ("linear", "cosine" or
    "constant") decay from 1 to `final_scale` at `max_updates`."""
    if kind not in ("linear", "cosine", "constant"):
        raise ValueError(f"decay kind must be 'linear', 'cosine' or 'constant', got {kind!r}")
    if update < warmup_updates:
        return (update + 1) / (warmup_updates + 1)
    if kind == "constant":
        return 1.0
    span = max(max_updates - warmup_updates, 1)
    progress = min((update - warmup_updates) / span, 1.0)
    if kind == "linear":
        shape = 1.0 - progress
    else:
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    return final_scale + (1.0 - final_scale) * shape


def gumbel_temperature(
    update: int, start: float = 2.0, end: float = 0.5, decay: float = 0.999995
) -> float:
    """Temperature of the quantizer's Gumbel softmax: `start * decay**update`, at least `end`
    (wav2vec 2.0's schedule)."""
    return max(start * decay**update, end)
