"""Output dataclasses; field names match the reference's outputs so user code ports unchanged."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch


class ModelOutput:
    """Attribute access plus `out["field"]` and `to_tuple()` (the non-None fields, in order)."""

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, str):
            return getattr(self, key)
        return self.to_tuple()[key]

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def to_tuple(self) -> tuple:
        return tuple(getattr(self, k) for k in self.keys())


Tensor = torch.Tensor | None
Tensors = tuple[torch.Tensor, ...] | None


@dataclass
class Wav2Vec2ConformerBaseModelOutput(ModelOutput):
    last_hidden_state: Tensor = None  # (B, T, C) (adapter output when add_adapter)
    extract_features: Tensor = None  # (B, T, C_conv) layer-normed conv features
    hidden_states: Tensors = None  # num_hidden_layers + 1 tensors (B, T, C)
    attentions: Tensors = None  # num_hidden_layers tensors (B, H, T, T)


@dataclass
class CausalLMOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None  # (B, T, vocab_size)
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None  # (B, num_labels)
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None  # (B, T, num_labels)
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class XVectorOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None  # (B, xvector_output_dim) AM-softmax inputs
    embeddings: Tensor = None  # (B, xvector_output_dim) speaker embeddings
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class Wav2Vec2ConformerForPreTrainingOutput(ModelOutput):
    loss: Tensor = None
    projected_states: Tensor = None  # (B, T, proj_codevector_dim)
    projected_quantized_states: Tensor = None  # (B, T, proj_codevector_dim)
    codevector_perplexity: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    contrastive_loss: Tensor = None
    diversity_loss: Tensor = None
