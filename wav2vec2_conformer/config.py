"""Model configuration: one dataclass with every field of the reference's `config.json`.

Field names and defaults follow the reference (HuggingFace `Wav2Vec2ConformerConfig`), so a
released checkpoint's `config.json` loads unchanged, and what we write loads in the reference.
Unknown keys in a `config.json` are kept in `extra` and written back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .fileio import atomic_write_text

ACTIVATIONS = ("gelu", "relu", "silu", "swish", "gelu_new", "gelu_fast", "tanh", "linear")
POSITION_EMBEDDING_TYPES = ("relative", "rotary", None)
MODEL_TYPE = "wav2vec2-conformer"


@dataclass
class Wav2Vec2ConformerConfig:
    # --- text / head sizes ---
    vocab_size: int | None = None  # CTC output classes (blank = pad_token_id); None for non-CTC
    # --- transformer (conformer) encoder ---
    hidden_size: int = 768  # model width C
    num_hidden_layers: int = 12  # conformer blocks
    num_attention_heads: int = 12  # heads; hidden_size must divide evenly
    intermediate_size: int = 3072  # feed-forward inner width
    hidden_act: str = "gelu"  # activation of feed-forward and conv module
    hidden_dropout: float = 0.1  # encoder input dropout and feed-forward output dropout
    activation_dropout: float = 0.1  # dropout after the feed-forward activation
    attention_dropout: float = 0.1  # on attention probabilities and on the attention block output
    feat_proj_dropout: float = 0.0  # after the feature projection
    feat_quantizer_dropout: float = 0.0  # on quantizer input (pre-training)
    final_dropout: float = 0.1  # before the CTC head
    layerdrop: float = 0.1  # probability of skipping a whole conformer block in training
    initializer_range: float = 0.02  # std of normal init for linear layers
    layer_norm_eps: float = 1e-5  # eps of feature-projection and encoder-final layer norms
    # --- convolutional feature encoder (waveform -> frames) ---
    feat_extract_norm: str = "group"  # "group": GroupNorm on layer 0 only; "layer": LayerNorm each
    feat_extract_activation: str = "gelu"
    conv_dim: list[int] = field(default_factory=lambda: [512] * 7)  # channels per conv layer
    conv_stride: list[int] = field(default_factory=lambda: [5, 2, 2, 2, 2, 2, 2])  # samples
    conv_kernel: list[int] = field(default_factory=lambda: [10, 3, 3, 3, 3, 2, 2])  # samples
    conv_bias: bool = False
    # positional conv embedding: built and loaded, never applied by the conformer encoder
    num_conv_pos_embeddings: int = 128  # its kernel size (frames)
    num_conv_pos_embedding_groups: int = 16
    # --- SpecAugment (training only) ---
    apply_spec_augment: bool = True
    mask_time_prob: float = 0.05  # upper bound on the share of frames masked
    mask_time_length: int = 10  # span length in frames
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0  # share of hidden channels masked
    mask_feature_length: int = 10  # span length in channels
    mask_feature_min_masks: int = 0
    # --- quantizer and contrastive pre-training ---
    num_codevectors_per_group: int = 320  # entries per codebook
    num_codevector_groups: int = 2  # product quantizer groups
    contrastive_logits_temperature: float = 0.1  # kappa in the contrastive loss
    num_negatives: int = 100  # distractors per masked frame
    codevector_dim: int = 256  # quantized vector width (all groups concatenated)
    proj_codevector_dim: int = 256  # width of the contrastive projection space
    diversity_loss_weight: float = 0.1  # alpha in L = L_m + alpha * L_d
    # --- CTC ---
    ctc_loss_reduction: str = "sum"  # "sum" | "mean" | "none"
    ctc_zero_infinity: bool = False
    # --- classification / x-vector heads ---
    use_weighted_layer_sum: bool = False  # learned softmax-weighted sum of all hidden states
    classifier_proj_size: int = 256
    tdnn_dim: list[int] = field(default_factory=lambda: [512, 512, 512, 512, 1500])
    tdnn_kernel: list[int] = field(default_factory=lambda: [5, 3, 3, 1, 1])
    tdnn_dilation: list[int] = field(default_factory=lambda: [1, 2, 3, 1, 1])
    xvector_output_dim: int = 512
    # --- special token ids ---
    pad_token_id: int | None = 0  # also the CTC blank
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    # --- adapter (downsampling after the encoder) ---
    add_adapter: bool = False
    adapter_kernel_size: int = 3
    adapter_stride: int = 2
    num_adapter_layers: int = 3
    output_hidden_size: int | None = None  # None -> hidden_size
    # --- conformer specifics ---
    position_embeddings_type: str | None = "relative"  # "relative" | "rotary" | None
    rotary_embedding_base: int = 10000
    max_source_positions: int = 5000  # initial size of the relative position table (frames)
    conv_depthwise_kernel_size: int = 31  # odd, "same" padding
    conformer_conv_dropout: float = 0.1
    # extension, not the reference's (which ignores the key): padded frames zeroed before every
    # depthwise conv too; set by `mask_padding_in_convs`, so a model keeps how it was trained
    mask_conv_padding: bool = False
    # --- labels (sequence / frame classification) ---
    id2label: dict[int, str] | None = None  # None -> {0: "LABEL_0", 1: "LABEL_1"}
    label2id: dict[str, int] | None = None
    num_labels: int | None = None  # None -> len(id2label)
    problem_type: str | None = None  # "regression" | "single_label_classification" | ...
    # --- keys of config.json we do not model (architectures, dtype, ...): written back ---
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("conv_dim", "conv_stride", "conv_kernel", "tdnn_dim", "tdnn_kernel"):
            setattr(self, name, list(getattr(self, name)))
        self.tdnn_dilation = list(self.tdnn_dilation)
        if self.output_hidden_size is None:
            self.output_hidden_size = self.hidden_size
        if self.id2label is None:
            n = 2 if self.num_labels is None else self.num_labels
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
        self.id2label = {int(k): v for k, v in self.id2label.items()}
        if self.num_labels is None:
            self.num_labels = len(self.id2label)
        elif self.num_labels != len(self.id2label):
            self.id2label = {i: self.id2label.get(i, f"LABEL_{i}") for i in range(self.num_labels)}
        if self.label2id is None or len(self.label2id) != self.num_labels:
            self.label2id = {v: k for k, v in self.id2label.items()}
        self.validate()

    # ----------------------------------------------------------------- derived values
    @property
    def num_feat_extract_layers(self) -> int:
        return len(self.conv_dim)

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Samples per output frame of the feature encoder (320 for the released models)."""
        return math.prod(self.conv_stride)

    @property
    def receptive_field(self) -> int:
        """The fewest input samples that give one output frame."""
        n = 1
        for k, s in zip(reversed(self.conv_kernel), reversed(self.conv_stride), strict=True):
            n = (n - 1) * s + k
        return n

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        n = len(self.conv_dim)
        if not (len(self.conv_stride) == len(self.conv_kernel) == n) or n == 0:
            raise ValueError(
                "conv_dim, conv_stride and conv_kernel must be non-empty and of the same length, "
                f"got {len(self.conv_dim)}, {len(self.conv_stride)}, {len(self.conv_kernel)}"
            )
        if not (len(self.tdnn_dim) == len(self.tdnn_kernel) == len(self.tdnn_dilation)):
            raise ValueError(
                "tdnn_dim, tdnn_kernel and tdnn_dilation must have the same length, got "
                f"{len(self.tdnn_dim)}, {len(self.tdnn_kernel)}, {len(self.tdnn_dilation)}"
            )
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.position_embeddings_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"position_embeddings_type must be 'relative', 'rotary' or None, "
                f"got {self.position_embeddings_type!r}"
            )
        for name in ("hidden_act", "feat_extract_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {ACTIVATIONS}")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(
                f"feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}"
            )
        if self.conv_depthwise_kernel_size % 2 == 0:
            raise ValueError(
                f"conv_depthwise_kernel_size must be odd, got {self.conv_depthwise_kernel_size}"
            )
        if self.codevector_dim % self.num_codevector_groups != 0:
            raise ValueError(
                f"codevector_dim ({self.codevector_dim}) must be divisible by "
                f"num_codevector_groups ({self.num_codevector_groups})"
            )
        if (
            self.position_embeddings_type == "rotary"
            and (self.hidden_size // self.num_attention_heads) % 2
        ):
            raise ValueError("rotary position embeddings need an even head size")
        if self.ctc_loss_reduction not in ("sum", "mean", "none"):
            raise ValueError(
                "ctc_loss_reduction must be 'sum', 'mean' or 'none', "
                f"got {self.ctc_loss_reduction!r}"
            )
        for name in (
            "hidden_dropout",
            "activation_dropout",
            "attention_dropout",
            "layerdrop",
            "feat_proj_dropout",
            "final_dropout",
            "mask_time_prob",
            "mask_feature_prob",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    # ----------------------------------------------------------------- dict / json I/O
    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> Wav2Vec2ConformerConfig:
        data = {**data, **overrides}
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "extra"}
        extra.update(data.get("extra") or {})
        extra.pop("num_feat_extract_layers", None)  # derived: written, never read
        extra.pop("model_type", None)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["num_feat_extract_layers"] = self.num_feat_extract_layers
        out["model_type"] = MODEL_TYPE
        out.update(self.extra)
        return dict(sorted(out.items()))

    @classmethod
    def from_json_file(cls, path: str | os.PathLike, **overrides: Any) -> Wav2Vec2ConformerConfig:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config.json must hold a JSON object")
        return cls.from_dict(data, **overrides)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> Wav2Vec2ConformerConfig:
        from .checkpoint import resolve_model_dir

        return cls.from_json_file(os.path.join(resolve_model_dir(path), "config.json"), **overrides)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        os.makedirs(path, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        atomic_write_text(os.path.join(path, "config.json"), text)

    def replace(self, **changes: Any) -> Wav2Vec2ConformerConfig:
        return dataclasses.replace(self, **changes)
