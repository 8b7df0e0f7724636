"""Named model sizes: `preset_config("tiny", vocab_size=32)` -> a `Wav2Vec2ConformerConfig`.

- "tiny" (~7M parameters): trains on a laptop CPU. Measured on a 2-core CPU: "group" feature
  norm ran ~2x faster than "layer", and the 128-channel first conv layers ~2x again; bf16
  autocast gave ~1.45x more (see the README's training section).
- "base": the wav2vec 2.0 BASE layout (12 blocks of width 768, 12 heads, group-norm feature
  encoder without conv bias) with conformer blocks. Meta released no conformer of this size;
  it is here for comparison runs.
- "large" and "large-rope": the released `facebook/wav2vec2-conformer-rel-pos-large` and
  `facebook/wav2vec2-conformer-rope-large` layouts (24 blocks of width 1024, 16 heads, ffn
  4096, swish, layer-norm feature encoder with conv bias, 768-wide codevectors).

Only shapes and regularisation live here; the vocabulary comes from the training data.
"""

from __future__ import annotations

from typing import Any

from .config import Wav2Vec2ConformerConfig

_LARGE: dict[str, Any] = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    hidden_act="swish",
    feat_extract_norm="layer",
    conv_bias=True,
    conv_dim=[512] * 7,
    feat_proj_dropout=0.1,
    hidden_dropout=0.1,
    attention_dropout=0.1,
    activation_dropout=0.1,
    layerdrop=0.1,
    codevector_dim=768,
    proj_codevector_dim=768,
    num_codevectors_per_group=320,
    num_codevector_groups=2,
    conv_depthwise_kernel_size=31,
)

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        hidden_act="swish",
        position_embeddings_type="rotary",
        feat_extract_norm="group",
        conv_bias=False,
        conv_dim=[128, 128, 128, 256, 256, 256, 256],
        conv_depthwise_kernel_size=15,
        num_conv_pos_embeddings=16,  # built but never applied by the conformer encoder
        num_conv_pos_embedding_groups=16,
        codevector_dim=256,
        proj_codevector_dim=128,
        num_codevectors_per_group=160,
        num_codevector_groups=2,
        hidden_dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.05,
        feat_proj_dropout=0.05,
        layerdrop=0.05,
    ),
    "base": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="swish",
        position_embeddings_type="relative",
        feat_extract_norm="group",
        conv_bias=False,
        conv_dim=[512] * 7,
        conv_depthwise_kernel_size=31,
        codevector_dim=256,
        proj_codevector_dim=256,
        layerdrop=0.05,
    ),
    "large": dict(_LARGE, position_embeddings_type="relative"),
    "large-rope": dict(_LARGE, position_embeddings_type="rotary"),
}


def preset_config(name: str, **overrides: Any) -> Wav2Vec2ConformerConfig:
    """The config of preset `name`; keyword arguments (config field names) override it."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return Wav2Vec2ConformerConfig.from_dict({**PRESETS[name], **overrides})
