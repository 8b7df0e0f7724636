"""Multi-head self-attention with relative (Transformer-XL), rotary or no position information."""

from __future__ import annotations

import torch
from torch import nn

from .positions import apply_rotary


def skew(scores: torch.Tensor) -> torch.Tensor:
    """Relative-to-absolute shift of Transformer-XL.

    scores: (B, H, T, 2T-1), column r holding relative distance T-1-r -> (B, H, T, T) with
    out[..., i, j] = scores[..., i, T-1-i+j] (the score for distance i-j).
    """
    b, h, t, r = scores.shape
    x = nn.functional.pad(scores, (1, 0))  # (B, H, T, 2T): one zero column in front
    x = x.view(b, h, r + 1, t)[:, :, 1:]  # reinterpret rows, drop the first: (B, H, 2T-1, T)
    return x.reshape(b, h, t, r)[..., :t]  # (B, H, T, 2T-1) -> keep T columns


class SelfAttention(nn.Module):
    """Self-attention of a conformer block.

    position "relative": scores = ((q + u) k^T + skew((q + v) p^T)) / sqrt(d), p the projected
    sinusoids of relative distances (u = pos_bias_u, v = pos_bias_v).
    position "rotary": TRAP (reference parity) the rotation is applied to the block's layer-normed
    input *before* the q/k projections (not to q and k); values are not rotated.
    """

    def __init__(self, hidden: int, num_heads: int, dropout: float, position: str | None):
        super().__init__()
        self.num_heads = num_heads
        self.head_size = hidden // num_heads
        self.scaling = self.head_size**-0.5
        self.position = position
        self.dropout_p = dropout
        self.linear_q = nn.Linear(hidden, hidden)
        self.linear_k = nn.Linear(hidden, hidden)
        self.linear_v = nn.Linear(hidden, hidden)
        self.linear_out = nn.Linear(hidden, hidden)
        if position == "relative":
            self.linear_pos = nn.Linear(hidden, hidden, bias=False)
            self.pos_bias_u = nn.Parameter(torch.zeros(num_heads, self.head_size))
            self.pos_bias_v = nn.Parameter(torch.zeros(num_heads, self.head_size))

    @torch.no_grad()
    def init_weights(self) -> None:
        if self.position == "relative":
            nn.init.xavier_uniform_(self.pos_bias_u)
            nn.init.xavier_uniform_(self.pos_bias_v)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_size).transpose(1, 2)  # (B, H, T, D)

    def forward(
        self,
        x: torch.Tensor,
        mask_bias: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, C); mask_bias: additive (B, 1, 1, T) or None; positions: (1, 2T-1, C)
        sinusoids for "relative", (2, T, D) cos/sin for "rotary". Returns (B, T, C) and, when
        need_weights, the attention probabilities (B, H, T, T)."""
        b, t, c = x.shape
        qk_in = x
        if self.position in ("relative", "rotary") and positions is None:
            raise ValueError(f"{self.position} attention needs position embeddings")
        if self.position == "rotary":
            qk_in = apply_rotary(x, positions, self.num_heads)
        q = self._heads(self.linear_q(qk_in))  # (B, H, T, D)
        k = self._heads(self.linear_k(qk_in))
        v = self._heads(self.linear_v(x))

        bias = mask_bias
        if self.position == "relative":
            p = self.linear_pos(positions)  # (1, 2T-1, C)
            p = p.view(1, -1, self.num_heads, self.head_size).permute(0, 2, 3, 1)  # (1, H, D, 2T-1)
            bd = skew(torch.matmul(q + self.pos_bias_v[:, None], p)) * self.scaling  # (B, H, T, T)
            bias = bd if bias is None else bd + bias
            q = q + self.pos_bias_u[:, None]

        dropout = self.dropout_p if self.training else 0.0
        if need_weights:
            scores = torch.matmul(q, k.transpose(2, 3)) * self.scaling  # (B, H, T, T)
            if bias is not None:
                scores = scores + bias
            weights = scores.softmax(dim=-1)
            out = torch.matmul(nn.functional.dropout(weights, dropout, self.training), v)
        else:
            weights = None
            out = nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=dropout, scale=self.scaling
            )  # (B, H, T, D)
        out = out.transpose(1, 2).reshape(b, t, c)  # (B, H, T, D) -> (B, T, C)
        return self.linear_out(out), weights
