"""Position information for the conformer encoder: relative sinusoids (Transformer-XL style),
rotary embeddings, and the wav2vec 2.0 positional convolution (kept for checkpoint compatibility).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .activations import get_activation


class RelativePositionalEncoding(nn.Module):
    """Sinusoids for relative distances T-1, T-2, ..., -(T-1) (row j holds distance T-1-j).

    Row layout and the sin/cos interleave follow fairseq's `RelPositionalEncoding`; values depend
    only on the distance, so computing them per length equals slicing the reference's table.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model
        self._cache: tuple[int, torch.device, torch.dtype, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C) -> (1, 2T-1, C)
        t = x.size(1)
        if self._cache is not None and self._cache[:3] == (t, x.device, x.dtype):
            return self._cache[3]
        dist = torch.arange(t - 1, -t, -1, dtype=torch.int64).float().unsqueeze(1)  # (2T-1, 1)
        div_term = torch.exp(
            torch.arange(0, self.d_model, 2, dtype=torch.int64).float()
            * -(math.log(10000.0) / self.d_model)
        )
        pe = torch.zeros(2 * t - 1, self.d_model)
        pe[:, 0::2] = torch.sin(dist * div_term)
        pe[:, 1::2] = torch.cos(dist * div_term)
        pe = pe.unsqueeze(0).to(device=x.device, dtype=x.dtype)
        self._cache = (t, x.device, x.dtype, pe)
        return pe


class RotaryEmbedding(nn.Module):
    """cos/sin tables of rotary position embeddings (RoFormer), rotate-half layout."""

    def __init__(self, head_dim: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (
            base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim)
        )
        # persistent: the reference saves it in checkpoints, so we do too
        self.register_buffer("inv_freq", inv_freq, persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C) -> (2, T, D): stacked cos and sin, in x's dtype
        t = x.size(1)
        freqs = torch.arange(t, device=self.inv_freq.device).type_as(self.inv_freq)[:, None]
        freqs = freqs * self.inv_freq  # (T, D/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (T, D)
        return torch.stack([emb.cos(), emb.sin()]).to(x.dtype)


def apply_rotary(x: torch.Tensor, cos_sin: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Rotate each head's channels of x: (B, T, C) with cos_sin (2, T, D) -> (B, T, C)."""
    b, t, c = x.shape
    d = c // num_heads
    x = x.view(b, t, num_heads, d)
    cos, sin = cos_sin[0, :t, None, :], cos_sin[1, :t, None, :]  # (T, 1, D)
    rotated = torch.cat((-x[..., d // 2 :], x[..., : d // 2]), dim=-1)  # rotate half
    return (x * cos + rotated * sin).view(b, t, c)


class PositionalConvEmbedding(nn.Module):
    """wav2vec 2.0's grouped, weight-normalised positional convolution.

    TRAP (reference parity): the conformer encoder builds and loads this module but never calls
    it; positions come only from the relative/rotary embeddings. We keep it so checkpoints
    round-trip with identical keys, and we do not apply it either.
    """

    def __init__(self, hidden: int, kernel: int, groups: int, act: str):
        super().__init__()
        conv = nn.Conv1d(hidden, hidden, kernel_size=kernel, padding=kernel // 2, groups=groups)
        # weight = g * v / ||v||, norm over all dims but 2 (kernel positions)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.remove_last = kernel % 2 == 0  # an even kernel with k//2 padding gives T+1 frames
        self.activation = get_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C) -> (B, T, C); transposed to channels-first for the conv
        y = self.conv(x.transpose(1, 2))
        if self.remove_last:
            y = y[:, :, :-1]
        return self.activation(y).transpose(1, 2)
