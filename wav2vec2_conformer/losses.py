"""Losses as pure functions: CTC, AM-softmax, contrastive and diversity (wav2vec 2.0)."""

from __future__ import annotations

import torch
from torch import nn


def ctc_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    logit_lengths: torch.Tensor,
    blank_id: int,
    reduction: str = "sum",
    zero_infinity: bool = False,
) -> torch.Tensor:
    """CTC on logits (B, T, V) and padded labels (B, U); label entries equal to -100 or to the
    blank id are padding. Log-softmax runs in fp32 whatever the logits' dtype."""
    keep = (labels != -100) & (labels != blank_id)
    target_lengths = keep.sum(-1)
    targets = labels.masked_select(keep)
    log_probs = nn.functional.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
    with torch.backends.cudnn.flags(enabled=False):
        return nn.functional.ctc_loss(
            log_probs,  # (T, B, V)
            targets,
            logit_lengths,
            target_lengths,
            blank=blank_id,
            reduction=reduction,
            zero_infinity=zero_infinity,
        )


def am_softmax_loss(
    x: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, scale: float, margin: float
) -> torch.Tensor:
    """Additive-margin softmax: cross-entropy of s * (cos(x, w_y) - m) against s * cos(x, w_j).
    x: (B, D), weight: (D, N) class vectors, labels: (B,) or (B, 1)."""
    labels = labels.flatten()
    cos = torch.mm(nn.functional.normalize(x, dim=1), nn.functional.normalize(weight, dim=0))
    onehot = nn.functional.one_hot(labels, weight.shape[1]).bool()
    logits = scale * torch.where(onehot, cos - margin, cos)
    return nn.functional.cross_entropy(logits, labels)


def contrastive_logits(
    predicted: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cosine similarities / kappa. predicted, positives: (B, T, D); negatives: (K, B, T, D).
    Returns (K+1, B, T), row 0 the positive. A negative equal to its positive gets -inf."""
    targets = torch.cat([positives[None], negatives], dim=0)  # (K+1, B, T, D)
    logits = torch.cosine_similarity(predicted.float(), targets.float(), dim=-1)
    logits = logits.type_as(targets) / temperature
    same = (positives[None] == negatives).all(-1)  # (K, B, T)
    if same.any():
        logits[1:][same] = float("-inf")
    return logits


def contrastive_loss(logits: torch.Tensor, mask_time_indices: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of picking the positive (class 0), over masked frames only.
    logits: (K+1, B, T); mask_time_indices: (B, T) bool."""
    flat = logits.transpose(0, 2).reshape(-1, logits.size(0))  # (T*B, K+1), time-major
    target = ((1 - mask_time_indices.long()) * -100).transpose(0, 1).flatten()  # 0 or -100
    return nn.functional.cross_entropy(flat.float(), target, reduction="sum")


def diversity_loss(perplexity: torch.Tensor, num_codevectors: int, num_masked: torch.Tensor):
    """(G*V - perplexity) / (G*V), scaled by the number of masked frames as the reference."""
    return (num_codevectors - perplexity) / num_codevectors * num_masked
