"""Int8 weight storage: a model folder in about half the bytes of float16.

Each large weight matrix (linear and convolution weights: two or more dimensions, at least
`MIN_ELEMENTS` entries) is stored as int8 with one float32 scale per output channel (its first
dimension), symmetric round-to-nearest:

    scale[o] = max |w[o, ...]| / 127        q = round(w / scale[o])   in [-127, 127]

under the weight's own key, its scales under `key + SCALE_SUFFIX`. Everything else (biases,
norms, BatchNorm statistics, small tensors) is stored as float16. Reading a folder
(`checkpoint.load_state_dict`) turns the pairs back into float32 (`dequantize_state`), so
every loader, `w2vc average` included, sees an ordinary state dict: the model computes in
float32 (or whatever it is cast to) with the rounded weights. Nothing is computed in int8.

Per-channel scales keep the rounding error of each row below half its step, 0.4% of the row's
largest weight; the model card gives the effect on WER.
"""

from __future__ import annotations

import torch

SCALE_SUFFIX = ".int8_scale"  # key of a quantized weight's per-output-channel scales
MIN_ELEMENTS = 4096  # smaller tensors are stored as float16: their bytes do not matter
QMAX = 127


def quantizable(key: str, value: torch.Tensor) -> bool:
    """Whether `value` is stored as int8: a floating weight of 2+ dims and enough entries."""
    return value.is_floating_point() and value.dim() >= 2 and value.numel() >= MIN_ELEMENTS


def quantize_tensor(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`w` (out, ...) -> (int8 values of its shape, float32 scales (out,))."""
    rows = w.detach().float().reshape(w.shape[0], -1)  # (out, rest)
    scale = rows.abs().amax(dim=1) / QMAX
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row stays zero
    q = torch.round(rows / scale[:, None]).clamp_(-QMAX, QMAX).to(torch.int8)
    return q.reshape(w.shape), scale


def dequantize_tensor(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float32 weight that (`q`, `scale`) stand for."""
    shape = (-1,) + (1,) * (q.dim() - 1)
    return q.float() * scale.float().reshape(shape)


def quantize_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict for int8 storage: large weights as int8 plus scales, other floats float16."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if quantizable(key, value):
            out[key], out[key + SCALE_SUFFIX] = quantize_tensor(value)
        elif value.is_floating_point():
            out[key] = value.to(torch.float16)
        else:
            out[key] = value
    return out


def dequantize_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo `quantize_state`'s int8 pairs (float32 weights); a state without any is returned
    as it is."""
    scales = {k.removesuffix(SCALE_SUFFIX) for k in state if k.endswith(SCALE_SUFFIX)}
    bare = [k for k, v in state.items() if v.dtype == torch.int8 and k not in scales]
    if bare:
        raise ValueError(f"int8 weights without scales ({SCALE_SUFFIX}): {', '.join(bare[:3])}")
    if not scales:
        return state
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(SCALE_SUFFIX):
            weight = key.removesuffix(SCALE_SUFFIX)
            if weight not in state:
                raise ValueError(f"int8 scales {key} have no weight {weight}")
            continue
        if key in scales:
            if value.dtype != torch.int8:
                raise ValueError(f"{key} has int8 scales but is stored as {value.dtype}")
            out[key] = dequantize_tensor(value, state[key + SCALE_SUFFIX])
        else:
            out[key] = value
    return out
