"""Conformer blocks (Gulati et al. 2020) as used by Wav2Vec2-Conformer, and the encoder stack."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .activations import get_activation
from .attention import SelfAttention
from .positions import PositionalConvEmbedding, RelativePositionalEncoding, RotaryEmbedding


class FeedForward(nn.Module):
    """Linear -> act -> dropout -> Linear -> dropout (the block's two macaron halves)."""

    def __init__(self, hidden: int, inner: int, act: str, act_dropout: float, out_dropout: float):
        super().__init__()
        self.intermediate_dense = nn.Linear(hidden, inner)
        self.intermediate_act_fn = get_activation(act)
        self.intermediate_dropout = nn.Dropout(act_dropout)
        self.output_dense = nn.Linear(inner, hidden)
        self.output_dropout = nn.Dropout(out_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.intermediate_dropout(self.intermediate_act_fn(self.intermediate_dense(x)))
        return self.output_dropout(self.output_dense(x))


class ConvModule(nn.Module):
    """LayerNorm -> pointwise conv (2C) -> GLU -> depthwise conv -> BatchNorm -> act -> pointwise
    conv -> dropout. Padded frames are not masked here (reference behaviour) unless `valid` is
    given: then they are zeroed before the depthwise conv, as its own zero padding would be."""

    def __init__(self, hidden: int, kernel: int, act: str, dropout: float):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"conv_depthwise_kernel_size must be odd, got {kernel}")
        self.layer_norm = nn.LayerNorm(hidden)
        self.pointwise_conv1 = nn.Conv1d(hidden, 2 * hidden, kernel_size=1, bias=False)
        self.depthwise_conv = nn.Conv1d(
            hidden, hidden, kernel, padding=(kernel - 1) // 2, groups=hidden, bias=False
        )
        self.batch_norm = nn.BatchNorm1d(hidden)
        self.activation = get_activation(act)
        self.pointwise_conv2 = nn.Conv1d(hidden, hidden, kernel_size=1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, C), valid: (B, T) bool; convs run channels-first, so transpose in and out
        y = self.layer_norm(x).transpose(1, 2)  # (B, C, T)
        y = nn.functional.glu(self.pointwise_conv1(y), dim=1)  # (B, 2C, T) -> (B, C, T)
        if valid is not None:
            y = y.masked_fill(~valid[:, None, :], 0.0)
        y = self.activation(self.batch_norm(self.depthwise_conv(y)))
        y = self.dropout(self.pointwise_conv2(y))
        return y.transpose(1, 2)  # (B, T, C)


class ConformerLayer(nn.Module):
    """x + FF/2 -> x + MHSA -> x + Conv -> x + FF/2 -> LayerNorm (pre-norm macaron block)."""

    def __init__(
        self,
        hidden: int,
        num_heads: int,
        inner: int,
        act: str,
        position: str | None,
        conv_kernel: int,
        attention_dropout: float,
        activation_dropout: float,
        hidden_dropout: float,
        conv_dropout: float,
    ):
        super().__init__()
        ff = (hidden, inner, act, activation_dropout, hidden_dropout)
        self.ffn1_layer_norm = nn.LayerNorm(hidden)
        self.ffn1 = FeedForward(*ff)
        self.self_attn_layer_norm = nn.LayerNorm(hidden)
        self.self_attn = SelfAttention(hidden, num_heads, attention_dropout, position)
        # the reference drops the attention block's output with attention_dropout too
        self.self_attn_dropout = nn.Dropout(attention_dropout)
        self.conv_module = ConvModule(hidden, conv_kernel, act, conv_dropout)
        self.ffn2_layer_norm = nn.LayerNorm(hidden)
        self.ffn2 = FeedForward(*ff)
        self.final_layer_norm = nn.LayerNorm(hidden)

    def forward(
        self,
        x: torch.Tensor,
        mask_bias: torch.Tensor | None,
        positions: torch.Tensor | None,
        need_weights: bool = False,
        conv_valid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # x: (B, T, C) -> (B, T, C); conv_valid: (B, T) bool, see ConvModule
        x = x + 0.5 * self.ffn1(self.ffn1_layer_norm(x))
        a, weights = self.self_attn(
            self.self_attn_layer_norm(x), mask_bias, positions, need_weights
        )
        x = x + self.self_attn_dropout(a)
        x = x + self.conv_module(x, conv_valid)
        x = x + 0.5 * self.ffn2(self.ffn2_layer_norm(x))
        return self.final_layer_norm(x), weights


class ConformerEncoder(nn.Module):
    """Zero padded frames -> dropout -> conformer blocks (with layerdrop) -> LayerNorm."""

    def __init__(self, config):
        super().__init__()
        c = config
        self.layerdrop = c.layerdrop
        pos = c.position_embeddings_type
        if pos == "relative":
            self.embed_positions = RelativePositionalEncoding(c.hidden_size)
        elif pos == "rotary":
            head_dim = c.hidden_size // c.num_attention_heads
            self.embed_positions = RotaryEmbedding(head_dim, c.rotary_embedding_base)
        else:
            self.embed_positions = None
        # built and loaded, never applied (see PositionalConvEmbedding)
        self.pos_conv_embed = PositionalConvEmbedding(
            c.hidden_size,
            c.num_conv_pos_embeddings,
            c.num_conv_pos_embedding_groups,
            c.feat_extract_activation,
        )
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout)
        self.layers = nn.ModuleList(
            ConformerLayer(
                c.hidden_size,
                c.num_attention_heads,
                c.intermediate_size,
                c.hidden_act,
                pos,
                c.conv_depthwise_kernel_size,
                c.attention_dropout,
                c.activation_dropout,
                c.hidden_dropout,
                c.conformer_conv_dropout,
            )
            for _ in range(c.num_hidden_layers)
        )
        self.gradient_checkpointing = False
        # extension, off by default (reference parity): padded frames zeroed before every
        # depthwise conv too, so no frame depends on the padding after it (`mask_padding_in_convs`)
        self.mask_conv_padding = c.mask_conv_padding

    def forward(
        self,
        x: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, tuple | None, tuple | None]:
        """x: (B, T, C); padding_mask: (B, T) bool, True on valid frames.

        Returns (last_hidden_state, hidden_states, attentions). hidden_states holds the input
        of the first block and the output of every block; TRAP (reference parity, transformers
        5.x): its last entry is the last block's output *before* the final LayerNorm, so it
        differs from last_hidden_state (transformers 4.x stored it after the LayerNorm).
        """
        mask_bias = None
        if padding_mask is not None:
            # TRAP (reference parity): padded frames are zeroed once here, never again; later
            # blocks (BatchNorm, depthwise conv) let them fill with non-zero values.
            x = x.masked_fill(~padding_mask[..., None], 0.0)
            mask_bias = torch.zeros(padding_mask.shape, dtype=x.dtype, device=x.device)
            mask_bias = mask_bias.masked_fill(~padding_mask, torch.finfo(x.dtype).min)
            mask_bias = mask_bias[:, None, None, :]  # (B, 1, 1, T): broadcast over heads, queries
        x = self.dropout(x)
        positions = self.embed_positions(x) if self.embed_positions is not None else None
        conv_valid = padding_mask if self.mask_conv_padding else None

        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            if self.training and self.layerdrop > 0 and torch.rand([]) < self.layerdrop:
                weights = None  # layer skipped (LayerDrop)
            elif self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x, weights = checkpoint(
                    layer, x, mask_bias, positions, output_attentions, conv_valid,
                    use_reentrant=False,
                )  # fmt: skip
            else:
                x, weights = layer(x, mask_bias, positions, output_attentions, conv_valid)
            if hidden_states is not None:
                hidden_states.append(x)
            if attentions is not None:
                attentions.append(weights)
        x = self.layer_norm(x)
        return (
            x,
            tuple(hidden_states) if hidden_states is not None else None,
            tuple(attentions) if attentions is not None else None,
        )
