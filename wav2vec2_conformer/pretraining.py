"""Self-supervised pre-training head: Gumbel product quantizer and the contrastive task."""

from __future__ import annotations

import torch
from torch import nn

from .config import Wav2Vec2ConformerConfig
from .losses import contrastive_logits, contrastive_loss, diversity_loss
from .model import Wav2Vec2ConformerModel, Wav2Vec2ConformerPreTrainedModel
from .outputs import Wav2Vec2ConformerForPreTrainingOutput


def codebook_perplexity(probs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over groups of exp(entropy of the mean code distribution).

    probs: (N, G, V) per-frame distributions; mask: (B, T) frames to count, N = B*T."""
    if mask is not None:
        keep = mask.flatten()[:, None, None]
        marginal = torch.where(keep, probs, torch.zeros_like(probs)).sum(dim=0) / mask.sum()
    else:
        marginal = probs.mean(dim=0)  # (G, V)
    return torch.exp(-torch.sum(torch.xlogy(marginal, marginal), dim=-1)).sum()


class GumbelVectorQuantizer(nn.Module):
    """G codebooks of V entries; each frame picks one entry per group (straight-through hard
    Gumbel-softmax in training, argmax in eval) and concatenates them."""

    def __init__(self, c_in: int, groups: int, entries: int, codevector_dim: int):
        super().__init__()
        if codevector_dim % groups != 0:
            raise ValueError(f"codevector_dim {codevector_dim} is not divisible by groups {groups}")
        self.num_groups, self.num_vars = groups, entries
        self.codevectors = nn.Parameter(torch.empty(1, groups * entries, codevector_dim // groups))
        self.weight_proj = nn.Linear(c_in, groups * entries)
        self.temperature = 2.0  # annealed during training, see set_gumbel_temperature

    @torch.no_grad()
    def init_weights(self) -> None:
        nn.init.normal_(self.weight_proj.weight, 0.0, 1.0)
        nn.init.zeros_(self.weight_proj.bias)
        nn.init.uniform_(self.codevectors)

    def forward(
        self, x: torch.Tensor, mask_time_indices: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, C_conv) -> codevectors (B, T, codevector_dim), perplexity ()
        b, t, _ = x.shape
        g, v = self.num_groups, self.num_vars
        logits = self.weight_proj(x).view(b * t * g, v)
        if self.training:
            hard = nn.functional.gumbel_softmax(logits.float(), tau=self.temperature, hard=True)
            probs = hard.type_as(logits)  # (B*T*G, V) one-hot forward, soft gradient
            soft = torch.softmax(logits.view(b * t, g, v).float(), dim=-1)
            perplexity = codebook_perplexity(soft, mask_time_indices)
        else:
            idx = logits.argmax(dim=-1)
            probs = torch.zeros_like(logits).scatter_(-1, idx.view(-1, 1), 1.0)
            perplexity = codebook_perplexity(probs.view(b * t, g, v), mask_time_indices)
        # pick one codevector per group: (B*T, G*V, 1) * (1, G*V, D/G) -> sum over V
        chosen = probs.view(b * t, -1).unsqueeze(-1) * self.codevectors
        chosen = chosen.view(b * t, g, v, -1).sum(-2)  # (B*T, G, D/G)
        return chosen.view(b, t, -1), perplexity


class Wav2Vec2ConformerForPreTraining(Wav2Vec2ConformerPreTrainedModel):
    """wav2vec 2.0 pre-training: predict the quantized latent of masked frames among distractors.

    L = L_contrastive + diversity_loss_weight * L_diversity (both summed over masked frames)."""

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__(config)
        c = config
        self.wav2vec2_conformer = Wav2Vec2ConformerModel(c)
        self.dropout_features = nn.Dropout(c.feat_quantizer_dropout)
        self.quantizer = GumbelVectorQuantizer(
            c.conv_dim[-1], c.num_codevector_groups, c.num_codevectors_per_group, c.codevector_dim
        )
        self.project_hid = nn.Linear(c.hidden_size, c.proj_codevector_dim)
        self.project_q = nn.Linear(c.codevector_dim, c.proj_codevector_dim)
        self.post_init()

    @torch.no_grad()
    def init_weights(self) -> None:
        # the last two projections keep torch's default init, as the reference
        self.project_hid.reset_parameters()
        self.project_q.reset_parameters()

    def set_gumbel_temperature(self, temperature: float) -> None:
        self.quantizer.temperature = temperature

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        sampled_negative_indices: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> Wav2Vec2ConformerForPreTrainingOutput:
        """mask_time_indices: (B, T) frames to mask; sampled_negative_indices: (B, T, K) indices
        into the flattened B*T frames (see `sample_negative_indices`); the loss needs both."""
        if mask_time_indices is not None:
            mask_time_indices = mask_time_indices.to(torch.bool)
        if sampled_negative_indices is not None and mask_time_indices is None:
            raise ValueError("sampled_negative_indices needs mask_time_indices")
        out = self.wav2vec2_conformer(
            input_values,
            attention_mask=attention_mask,
            mask_time_indices=mask_time_indices,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        predicted = self.project_hid(out.last_hidden_state)  # (B, T, P)
        features = self.dropout_features(out.extract_features)  # (B, T, C_conv)
        quantized, perplexity = self.quantizer(features, mask_time_indices)
        quantized = self.project_q(quantized.to(self.project_q.weight.dtype))  # (B, T, P)

        loss = l_m = l_d = None
        if sampled_negative_indices is not None:
            b, t, p = quantized.shape
            k = sampled_negative_indices.shape[-1]
            if tuple(sampled_negative_indices.shape[:2]) != (b, t):
                raise ValueError(
                    f"sampled_negative_indices must have shape ({b}, {t}, K), "
                    f"got {tuple(sampled_negative_indices.shape)}"
                )
            idx = sampled_negative_indices.long().view(-1)
            if idx.numel() and (idx.min() < 0 or idx.max() >= b * t):
                raise ValueError(f"sampled_negative_indices must lie in [0, {b * t - 1}]")
            negatives = quantized.view(-1, p)[idx].view(b, t, k, p).permute(2, 0, 1, 3)  # (K,B,T,P)
            logits = contrastive_logits(
                predicted, quantized, negatives, self.config.contrastive_logits_temperature
            )
            l_m = contrastive_loss(logits, mask_time_indices)
            n_codes = self.config.num_codevectors_per_group * self.config.num_codevector_groups
            l_d = diversity_loss(perplexity, n_codes, mask_time_indices.sum())
            loss = l_m + self.config.diversity_loss_weight * l_d
        return Wav2Vec2ConformerForPreTrainingOutput(
            loss=loss,
            projected_states=predicted,
            projected_quantized_states=quantized,
            codevector_perplexity=perplexity,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            contrastive_loss=l_m,
            diversity_loss=l_d,
        )
