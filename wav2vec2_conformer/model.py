"""The bare Wav2Vec2-Conformer model and the base class every head model shares.

Module attribute names follow the reference's parameter paths, so a checkpoint's keys map onto
our `state_dict` one to one (see checkpoint.py for the loading rules).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import Wav2Vec2ConformerConfig
from .conformer import ConformerEncoder
from .feature_encoder import FeatureEncoder, FeatureProjection, conv_output_length
from .masking import compute_mask_indices, lengths_to_padding_mask
from .outputs import Wav2Vec2ConformerBaseModelOutput
from .positions import PositionalConvEmbedding


def numpy_generator() -> np.random.Generator:
    """A numpy generator seeded from torch's global RNG, so `torch.manual_seed` (and a restored
    torch RNG state on resume) also fixes SpecAugment's draws."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


class Wav2Vec2ConformerPreTrainedModel(nn.Module):
    """Shared plumbing: config, weight init, checkpoint I/O, lengths and masks, freezing."""

    base_model_prefix = "wav2vec2_conformer"
    main_input_name = "input_values"

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__()
        if not isinstance(config, Wav2Vec2ConformerConfig):
            raise TypeError(
                f"config must be a Wav2Vec2ConformerConfig, got {type(config).__name__}"
            )
        self.config = config

    # ------------------------------------------------------------------ construction / I/O
    def post_init(self) -> None:
        """Initialise every weight (children first, so a parent's rule overrides a child's)."""
        self.apply(self._init_module)

    @torch.no_grad()
    def _init_module(self, m: nn.Module) -> None:
        c = self.config
        if isinstance(m, nn.Linear):
            m.weight.normal_(0.0, c.initializer_range)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.LayerNorm | nn.GroupNorm | nn.BatchNorm1d):
            if m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
            if isinstance(m, nn.BatchNorm1d):
                m.reset_running_stats()
        elif isinstance(m, PositionalConvEmbedding):
            conv = m.conv
            std = 2 * math.sqrt(1 / (conv.kernel_size[0] * conv.in_channels))
            v = torch.randn_like(conv.parametrizations.weight.original1) * std
            conv.parametrizations.weight.original1.copy_(v)
            conv.parametrizations.weight.original0.copy_(v.norm(dim=(0, 1), keepdim=True))
            conv.bias.zero_()
        elif isinstance(m, FeatureProjection):
            k = math.sqrt(1 / m.projection.in_features)
            nn.init.uniform_(m.projection.weight, -k, k)
            nn.init.uniform_(m.projection.bias, -k, k)
        elif isinstance(m, nn.Conv1d):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                k = math.sqrt(m.groups / (m.in_channels * m.kernel_size[0]))
                nn.init.uniform_(m.bias, -k, k)
        # module-specific rules (masked_spec_embed, quantizer, heads) live beside the module
        if callable(getattr(m, "init_weights", None)):
            m.init_weights()

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs: Any):
        """Load from a local HF-layout directory (config.json + weights) or a hub id (needs
        `huggingface_hub` and a network). Keyword arguments that name config fields override
        them; `ignore_mismatched_sizes=True` re-initialises weights whose shapes differ."""
        from .checkpoint import load_pretrained

        return load_pretrained(cls, path, **kwargs)

    def save_pretrained(
        self,
        path: str | os.PathLike,
        safe_serialization: bool = True,
        max_shard_size: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Write config.json and model.safetensors (or pytorch_model.bin), atomically; with
        `max_shard_size` (bytes), sharded files plus an index; with `dtype`, the weights stored
        in that type (torch.float16, or torch.int8: `quantize`)."""
        from .checkpoint import save_pretrained

        save_pretrained(self, path, safe_serialization, max_shard_size, dtype)

    # ------------------------------------------------------------------ helpers
    @property
    def base(self) -> Wav2Vec2ConformerModel:
        return getattr(self, self.base_model_prefix, self)

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def freeze_feature_encoder(self) -> None:
        """Stop gradients into the convolutional feature encoder."""
        self.base.feature_extractor.freeze()

    def freeze_base_model(self) -> None:
        """Train only the head: freeze every weight of the bare model."""
        for p in self.base.parameters():
            p.requires_grad = False

    def gradient_checkpointing_enable(self) -> None:
        """Recompute conv layers and conformer blocks in backward instead of storing them."""
        self.base.feature_extractor.gradient_checkpointing = True
        self.base.encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        self.base.feature_extractor.gradient_checkpointing = False
        self.base.encoder.gradient_checkpointing = False

    def mask_padding_in_convs(self, enable: bool = True) -> None:
        """Extension, off by default (reference parity): zero padded frames before every
        conformer depthwise conv, not only at the encoder input, so that in a batch of mixed
        lengths each utterance's frames equal its frames alone ("layer" feature-norm models
        without an adapter; a "group" feature norm spans the padding whatever this says).
        Recorded in the config (`mask_conv_padding`), so a saved model loads with it as set."""
        self.config.mask_conv_padding = self.base.encoder.mask_conv_padding = enable

    def feat_extract_output_lengths(
        self, input_lengths: torch.Tensor | int, add_adapter: bool | None = None
    ) -> torch.Tensor | int:
        """Frames out of the feature encoder (and the adapter, if any) for a number of samples."""
        c = self.config
        add_adapter = c.add_adapter if add_adapter is None else add_adapter
        for k, s in zip(c.conv_kernel, c.conv_stride, strict=True):
            input_lengths = conv_output_length(input_lengths, k, s)
        if add_adapter:
            # the reference counts each adapter conv as kernel 1 (exact for kernel 3, padding 1)
            for _ in range(c.num_adapter_layers):
                input_lengths = conv_output_length(input_lengths, 1, c.adapter_stride)
        return input_lengths

    _get_feat_extract_output_lengths = feat_extract_output_lengths  # reference's name

    def feature_vector_mask(
        self, num_frames: int, attention_mask: torch.Tensor, add_adapter: bool | None = None
    ) -> torch.Tensor:
        """Sample-level attention mask (B, S) -> frame-level mask (B, num_frames), True = valid."""
        lengths = self.feat_extract_output_lengths(attention_mask.sum(-1), add_adapter)
        return lengths_to_padding_mask(lengths.to(torch.long), num_frames)

    _get_feature_vector_attention_mask = feature_vector_mask  # reference's name

    def check_inputs(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> None:
        """Raise a ValueError naming the problem for inputs the model cannot take."""
        if not isinstance(input_values, torch.Tensor):
            raise ValueError(
                f"input_values must be a torch.Tensor, got {type(input_values).__name__}"
            )
        if input_values.ndim != 2:
            raise ValueError(
                f"input_values must have shape (batch, samples), got {tuple(input_values.shape)}"
            )
        if not input_values.is_floating_point():
            raise ValueError(f"input_values must be a float tensor, got {input_values.dtype}")
        need = self.config.receptive_field
        if input_values.shape[1] < need:
            raise ValueError(
                f"input has {input_values.shape[1]} samples, fewer than the feature encoder's "
                f"receptive field of {need} samples"
            )
        if attention_mask is not None:
            if attention_mask.shape != input_values.shape:
                raise ValueError(
                    f"attention_mask shape {tuple(attention_mask.shape)} does not match "
                    f"input_values shape {tuple(input_values.shape)}"
                )
            lengths = attention_mask.sum(-1)
            short = (lengths < need).nonzero().flatten().tolist()
            if short:
                raise ValueError(
                    f"batch item(s) {short} have fewer valid samples than the receptive field "
                    f"({need}) per attention_mask"
                )


class Adapter(nn.Module):
    """Optional downsampling after the encoder: (projection) -> strided conv + GLU layers."""

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__()
        c = config
        if c.output_hidden_size != c.hidden_size:
            self.proj = nn.Linear(c.hidden_size, c.output_hidden_size)
            self.proj_layer_norm = nn.LayerNorm(c.output_hidden_size)
        else:
            self.proj = self.proj_layer_norm = None
        self.layers = nn.ModuleList(
            AdapterLayer(c.output_hidden_size, c.adapter_kernel_size, c.adapter_stride)
            for _ in range(c.num_adapter_layers)
        )
        self.layerdrop = c.layerdrop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C) -> (B, T', C_out)
        if self.proj is not None:
            x = self.proj_layer_norm(self.proj(x))
        x = x.transpose(1, 2)  # channels-first for the convs
        for layer in self.layers:
            if not self.training or torch.rand([]) > self.layerdrop:
                x = layer(x)
        return x.transpose(1, 2)


class AdapterLayer(nn.Module):
    def __init__(self, channels: int, kernel: int, stride: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, 2 * channels, kernel, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.glu(self.conv(x), dim=1)  # (B, 2C, T') -> (B, C, T')


class Wav2Vec2ConformerModel(Wav2Vec2ConformerPreTrainedModel):
    """Waveform (B, S) -> contextual frames (B, T, C), T = S // 320 for the released layouts."""

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__(config)
        c = config
        self.feature_extractor = FeatureEncoder(
            c.conv_dim,
            c.conv_kernel,
            c.conv_stride,
            c.conv_bias,
            c.feat_extract_norm,
            c.feat_extract_activation,
        )
        self.feature_projection = FeatureProjection(
            c.conv_dim[-1], c.hidden_size, c.layer_norm_eps, c.feat_proj_dropout
        )
        if c.mask_time_prob > 0.0 or c.mask_feature_prob > 0.0:
            self.masked_spec_embed = nn.Parameter(torch.empty(c.hidden_size).uniform_())
        self.encoder = ConformerEncoder(c)
        self.adapter = Adapter(c) if c.add_adapter else None
        self.post_init()

    def init_weights(self) -> None:
        if hasattr(self, "masked_spec_embed"):
            nn.init.uniform_(self.masked_spec_embed)

    def mask_hidden_states(
        self,
        x: torch.Tensor,
        mask_time_indices: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """SpecAugment: replace masked frames by a learned vector and zero masked channels.
        Given `mask_time_indices` are applied in any mode; random masks only in training."""
        c = self.config
        if not c.apply_spec_augment:
            return x
        b, t, ch = x.shape
        if mask_time_indices is None and c.mask_time_prob > 0 and self.training:
            mask_time_indices = torch.from_numpy(
                compute_mask_indices(
                    (b, t),
                    c.mask_time_prob,
                    c.mask_time_length,
                    padding_mask,
                    c.mask_time_min_masks,
                    numpy_generator(),
                )
            ).to(x.device)
        if mask_time_indices is not None:
            if not hasattr(self, "masked_spec_embed"):
                raise ValueError(
                    "mask_time_indices needs a masked_spec_embed: "
                    "set mask_time_prob > 0 in the config"
                )
            if tuple(mask_time_indices.shape) != (b, t):
                raise ValueError(
                    f"mask_time_indices must have shape {(b, t)} (batch, frames), "
                    f"got {tuple(mask_time_indices.shape)}"
                )
            m = mask_time_indices.to(torch.bool)[..., None]  # (B, T, 1)
            x = torch.where(m, self.masked_spec_embed.to(x.dtype), x)
        if c.mask_feature_prob > 0 and self.training:
            feat = compute_mask_indices(
                (b, ch),
                c.mask_feature_prob,
                c.mask_feature_length,
                None,
                c.mask_feature_min_masks,
                numpy_generator(),
            )
            x = x.masked_fill(torch.from_numpy(feat).to(x.device)[:, None, :], 0.0)
        return x

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> Wav2Vec2ConformerBaseModelOutput:
        """input_values: (B, S) float waveform; attention_mask: (B, S), 1 on real samples;
        mask_time_indices: (B, T) frames to replace by the mask embedding."""
        self.check_inputs(input_values, attention_mask)
        feats = self.feature_extractor(input_values)  # (B, T, C_conv)
        padding_mask = None
        if attention_mask is not None:
            padding_mask = self.feature_vector_mask(
                feats.shape[1], attention_mask, add_adapter=False
            )
        x, normed = self.feature_projection(feats)  # (B, T, C), (B, T, C_conv)
        x = self.mask_hidden_states(x, mask_time_indices, padding_mask)
        x, hidden_states, attentions = self.encoder(
            x, padding_mask, output_hidden_states, output_attentions
        )
        if self.adapter is not None:
            x = self.adapter(x)
        return Wav2Vec2ConformerBaseModelOutput(
            last_hidden_state=x,
            extract_features=normed,
            hidden_states=hidden_states,
            attentions=attentions,
        )
