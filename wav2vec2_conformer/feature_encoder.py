"""The convolutional feature encoder: raw waveform (B, S) -> frames (B, T, C), and its projection.

Lengths travel beside the tensors: each conv layer knows its own output-length formula.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .activations import get_activation


def conv_output_length(length: torch.Tensor | int, kernel: int, stride: int) -> torch.Tensor | int:
    """Frames out of an unpadded 1-D conv: floor((L - kernel) / stride) + 1."""
    if isinstance(length, torch.Tensor):
        return torch.div(length - kernel, stride, rounding_mode="floor") + 1
    return (length - kernel) // stride + 1


class ConvLayer(nn.Module):
    """Conv1d -> optional norm -> activation. `norm` is "group" (per-channel GroupNorm over time),
    "layer" (LayerNorm over channels at each frame) or None."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        bias: bool,
        norm: str | None,
        act: str,
    ):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv1d(c_in, c_out, kernel_size=kernel, stride=stride, bias=bias)
        if norm == "group":
            self.layer_norm = nn.GroupNorm(num_groups=c_out, num_channels=c_out, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out, elementwise_affine=True)
        self.norm = norm
        self.activation = get_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, S) channels-first inside the encoder (conv layout)
        x = self.conv(x)  # (B, C_out, S')
        if self.norm == "group":
            x = self.layer_norm(x)
        elif self.norm == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)  # norm over C at each frame
        return self.activation(x)

    def output_length(self, length: torch.Tensor | int) -> torch.Tensor | int:
        return conv_output_length(length, self.kernel, self.stride)


class FeatureEncoder(nn.Module):
    """Stack of strided convolutions. "group" mode: GroupNorm on the first layer only (wav2vec 2.0
    base); "layer" mode: LayerNorm after every conv (large models)."""

    def __init__(
        self,
        conv_dim: list[int],
        conv_kernel: list[int],
        conv_stride: list[int],
        conv_bias: bool,
        norm_mode: str,
        act: str,
    ):
        super().__init__()
        if norm_mode not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', got {norm_mode!r}")
        layers = []
        for i, (c_out, k, s) in enumerate(zip(conv_dim, conv_kernel, conv_stride, strict=True)):
            c_in = conv_dim[i - 1] if i > 0 else 1
            norm = "layer" if norm_mode == "layer" else ("group" if i == 0 else None)
            layers.append(ConvLayer(c_in, c_out, k, s, conv_bias, norm, act))
        self.conv_layers = nn.ModuleList(layers)
        self.gradient_checkpointing = False

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        # waveform: (B, S) -> (B, T, C)
        x = waveform[:, None]  # (B, 1, S)
        for layer in self.conv_layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x.transpose(1, 2)  # (B, C, T) -> (B, T, C)

    def output_length(self, length: torch.Tensor | int) -> torch.Tensor | int:
        for layer in self.conv_layers:
            length = layer.output_length(length)
        return length

    def freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad = False


class FeatureProjection(nn.Module):
    """LayerNorm over conv channels, then a linear map to the model width.

    Returns both the projection and the normalised features: the quantizer of pre-training reads
    the latter (the reference's `extract_features` output)."""

    def __init__(self, c_in: int, hidden: int, eps: float, dropout: float):
        super().__init__()
        self.layer_norm = nn.LayerNorm(c_in, eps=eps)
        self.projection = nn.Linear(c_in, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, C_conv) -> (B, T, C), (B, T, C_conv)
        normed = self.layer_norm(x)
        return self.dropout(self.projection(normed)), normed
