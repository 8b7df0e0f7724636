"""Activation functions by the names used in `config.json`."""

from __future__ import annotations

import math

import torch
from torch import nn


class GELUTanh(nn.Module):
    """The tanh approximation of GELU ("gelu_new")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(x, approximate="tanh")


class GELUFast(nn.Module):
    """The fast tanh approximation of GELU ("gelu_fast")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(x * math.sqrt(2.0 / math.pi) * (1.0 + 0.044715 * x * x)))


def get_activation(name: str) -> nn.Module:
    """Return the activation module named `name` (see `config.ACTIVATIONS`)."""
    table = {
        "gelu": nn.GELU,
        "relu": nn.ReLU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "gelu_new": GELUTanh,
        "gelu_fast": GELUFast,
        "tanh": nn.Tanh,
        "linear": nn.Identity,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(table)}")
    return table[name]()
