"""wav2vec 2.0 pre-training: `pretrain(PretrainConfig(train=..., out=...))` or `w2vc pretrain`.

Each batch gets time masks from `compute_mask_indices` (span starts with probability
`mask_prob`, spans of `mask_length` frames; fairseq's 0.65 and 10) and, for every masked frame,
`num_negatives` distractors from `sample_negative_indices`, drawn in the DataLoader workers from
`(seed, epoch, batch)`. The loss is the model's contrastive + weighted diversity loss, summed
over masked frames and normalised by their number in the update. The Gumbel temperature
anneals per update; gradients into the feature encoder are scaled by `feature_grad_mult`.

Logged: loss, contrastive and diversity loss (per masked frame), codebook perplexity, accuracy
of picking the positive among the distractors, Gumbel temperature.

Outputs in OUT: as fine-tuning, with final/ a `Wav2Vec2ConformerForPreTraining` folder (plus
preprocessor_config.json) that `w2vc finetune --init OUT/final` loads into a CTC model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..feature_extraction import Wav2Vec2FeatureExtractor
from ..presets import preset_config
from ..pretraining import Wav2Vec2ConformerForPreTraining
from . import runtime
from .config import PretrainConfig
from .data import AudioDataset, Collator, eval_loader, prepare
from .loop import launch
from .runtime import Dist, logger
from .schedule import gumbel_temperature

DEFAULT_LR = 5e-4


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; gradient times `scale` backward (fairseq's GradMultiply)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


def positive_accuracy(out, negative_indices: torch.Tensor, mask: torch.Tensor, temperature: float):
    """Masked frames whose positive scores above all its distractors (ties count as wrong)."""
    b, t, p = out.projected_quantized_states.shape
    keep = mask.flatten()
    if not keep.any():
        return torch.zeros((), device=mask.device)
    quantized = out.projected_quantized_states.detach().float().reshape(b * t, p)
    predicted = out.projected_states.detach().float().reshape(b * t, p)[keep]  # (M, P)
    negatives = quantized[negative_indices.reshape(b * t, -1)[keep].long()]  # (M, K, P)
    positives = quantized[keep]  # (M, P)
    candidates = torch.cat([positives[:, None], negatives], dim=1)  # (M, K+1, P)
    scores = torch.cosine_similarity(predicted[:, None], candidates, dim=-1) / temperature
    same = (negatives == positives[:, None]).all(-1)  # a distractor equal to the positive
    scores[:, 1:] = scores[:, 1:].masked_fill(same, float("-inf"))
    return (scores[:, 0] > scores[:, 1:].max(dim=1).values).sum()


class PretrainObjective(nn.Module):
    def __init__(self, model: Wav2Vec2ConformerForPreTraining, feature_grad_mult: float):
        super().__init__()
        self.model = model
        if feature_grad_mult == 0:
            model.freeze_feature_encoder()
        elif feature_grad_mult != 1:
            model.base.feature_extractor.register_forward_hook(
                lambda module, args, output: _ScaleGrad.apply(output, feature_grad_mult)
            )

    def forward(self, batch: dict[str, Any], update: int) -> dict[str, torch.Tensor]:
        mask, negatives = batch["mask_time_indices"], batch["sampled_negative_indices"]
        out = self.model(
            batch["input_values"],
            attention_mask=batch["attention_mask"],
            mask_time_indices=mask,
            sampled_negative_indices=negatives,
        )
        t = self.model.config.contrastive_logits_temperature
        return {
            "loss": out.loss,
            "weight": mask.sum().float(),
            "contrastive": out.contrastive_loss.detach(),
            "diversity": out.diversity_loss.detach(),
            "perplexity": out.codevector_perplexity.detach(),
            "correct": positive_accuracy(out, negatives, mask, t),
            "count": torch.ones(()),
        }


def build_model(cfg: PretrainConfig) -> Wav2Vec2ConformerForPreTraining:
    overrides: dict[str, Any] = dict(cfg.model)
    if cfg.layerdrop is not None:
        overrides["layerdrop"] = cfg.layerdrop
    if cfg.diversity_loss_weight is not None:
        overrides["diversity_loss_weight"] = cfg.diversity_loss_weight
    if cfg.init:
        model = Wav2Vec2ConformerForPreTraining.from_pretrained(cfg.init, **overrides)
    else:
        model = Wav2Vec2ConformerForPreTraining(preset_config(cfg.preset, **overrides))
    c = model.config
    if not c.apply_spec_augment or not hasattr(model.base, "masked_spec_embed"):
        raise ValueError(
            "pre-training needs the mask embedding: apply_spec_augment=True and mask_time_prob > 0"
        )
    model.mask_padding_in_convs(cfg.mask_conv_padding)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model.train()


class PretrainJob:
    best_metric = None

    def __init__(self, cfg: PretrainConfig, dist: Dist):
        self.model = build_model(cfg)
        if cfg.lr is None:
            cfg = cfg.replace(lr=DEFAULT_LR)
        self.cfg = cfg
        self.objective = PretrainObjective(self.model, cfg.feature_grad_mult)
        c = self.model.config
        masks = dict(
            mask_prob=cfg.mask_prob,
            mask_length=cfg.mask_length,
            min_masks=cfg.min_masks,
            num_negatives=cfg.num_negatives or c.num_negatives,
        )
        conv = tuple(zip(c.conv_kernel, c.conv_stride, strict=True))
        self.collator = Collator(pretraining=masks, conv=conv, seed=cfg.seed)
        # the shortest utterance must give frames for at least one whole mask span
        shortest = c.receptive_field + (cfg.mask_length - 1) * c.inputs_to_logits_ratio
        common = dict(
            with_text=False,
            sampling_rate=cfg.sampling_rate,
            bad_input=cfg.bad_input,
            min_samples=max(cfg.min_sample_size, shortest),
        )
        crop = cfg.long_utterances == "crop"
        items, report = prepare(cfg.train, max_samples=cfg.max_sample_size, crop=crop, **common)
        logger.info("train data: %s", report.summary())
        self.train_set = AudioDataset(
            items, cfg.sampling_rate, cfg.seed, cfg.max_sample_size, **cfg.augmentation()
        )
        self.dev_set = None
        if cfg.dev:
            dev, report = prepare(cfg.dev, max_samples=cfg.max_sample_size, crop=True, **common)
            logger.info("dev data: %s", report.summary())
            self.dev_set = AudioDataset(dev, cfg.sampling_rate, cfg.seed, cfg.max_sample_size)

    def before_update(self, update: int) -> None:
        self.temperature = gumbel_temperature(update, *self.cfg.gumbel_temperature)
        self.model.set_gumbel_temperature(self.temperature)

    def train_logs(self, totals: dict[str, float]) -> dict[str, float]:
        return summarise(totals) | {"temperature": self.temperature}

    @torch.no_grad()
    def evaluate(self, dist: Dist) -> dict[str, float] | None:
        """Dev losses and accuracy with the same masking (argmax codes, no Gumbel noise)."""
        if self.dev_set is None:
            return None
        cfg = self.cfg
        self.model.eval()
        loader = eval_loader(self.dev_set, self.collator, cfg, dist.rank, dist.world_size, 0)
        precision = runtime.resolve_precision(cfg.precision, dist.device)
        names = ("loss", "weight", "contrastive", "diversity", "perplexity", "correct", "count")
        totals = dict.fromkeys(names, 0.0)
        for batch in loader:
            if batch["size"] == 0:
                continue
            batch = {k: v.to(dist.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            with runtime.autocast(precision, dist.device):
                stats = self.objective(batch, update=0)
            for k in names:
                totals[k] += float(stats[k])
        self.model.train()
        totals = dict(zip(names, runtime.all_sum([totals[k] for k in names], dist), strict=True))
        return summarise(totals) if dist.is_main and totals["count"] else {}

    def save_model(self, folder: str) -> None:
        self.model.save_pretrained(folder)
        fe = Wav2Vec2FeatureExtractor(
            sampling_rate=self.cfg.sampling_rate, return_attention_mask=True, do_normalize=True
        )
        fe.save_pretrained(folder)


def summarise(totals: dict[str, float]) -> dict[str, float]:
    frames = max(totals["weight"], 1.0)
    return {
        "loss": totals["loss"] / frames,
        "contrastive": totals["contrastive"] / frames,
        "diversity": totals["diversity"] / frames,
        "perplexity": totals["perplexity"] / max(totals["count"], 1.0),
        "accuracy": totals["correct"] / frames,
        "masked_frames": int(totals["weight"]),
    }


def pretrain(cfg: PretrainConfig) -> dict[str, Any]:
    """Pre-train as `cfg` says; returns the last train and dev metrics. Under torchrun every
    process calls this; rank 0 writes the outputs."""
    return launch(cfg, PretrainJob)
