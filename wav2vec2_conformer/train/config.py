"""Job options: one frozen dataclass per job, filled from defaults < a YAML file < CLI flags.

Every field carries its help text in `metadata["help"]`; the CLI builds one flag per field from
it (`max_updates` -> `--max-updates`), so the dataclass is the single list of options. The
effective options (auto values resolved) are written to `OUT/train_config.yaml`.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

CONFIG_NAME = "train_config.yaml"
SCHEDULES = ("tri_stage", "warmup_decay")
DECAYS = ("linear", "cosine", "constant")
LONG = ("skip", "crop")
BAD = ("skip", "error")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with help text (mutable defaults are copied per instance)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class TrainConfig:
    """Options shared by fine-tuning and pre-training."""

    # --- data and output ---
    train: str = opt(
        "", "training manifest (TSV, one utterance a line; paths relative to it)", metavar="PATH"
    )
    dev: str | None = opt(
        None, "dev manifest, evaluated every --eval-every updates", metavar="PATH"
    )
    out: str = opt("", "output folder: checkpoints, logs, the final model", metavar="PATH")
    # --- model ---
    preset: str = opt("tiny", "model size for a fresh model: tiny, base, large, large-rope")
    init: str | None = opt(
        None, "start from this model folder (HF layout) instead of a preset", metavar="PATH"
    )
    model: dict = opt({}, "model config overrides, e.g. --model hidden_size=128 layerdrop=0.0")
    layerdrop: float | None = opt(None, "probability of skipping a conformer block (None: model's)")
    gradient_checkpointing: bool = opt(False, "recompute activations in backward to save memory")
    mask_conv_padding: bool = opt(
        True,
        "zero padded frames before every conformer depthwise conv, in training and dev "
        "evaluation (extension: the reference lets the padding into an utterance's last frames)",
    )
    # --- optimisation ---
    max_updates: int = opt(10_000, "optimizer steps to train for")
    lr: float | None = opt(None, "peak learning rate (None: the job's default, see its docs)")
    schedule: str = opt("tri_stage", "learning-rate schedule", choices=SCHEDULES)
    phase_ratio: tuple[float, float, float] = opt(
        (0.1, 0.4, 0.5), "tri_stage: shares of warm-up, hold and decay"
    )
    init_lr_scale: float = opt(0.01, "tri_stage: starting rate as a share of the peak")
    final_lr_scale: float = opt(0.05, "final rate as a share of the peak (both schedules)")
    warmup_updates: int | None = opt(None, "warmup_decay: warm-up updates (None: 8%)")
    decay: str = opt("linear", "warmup_decay: shape of the decay", choices=DECAYS)
    weight_decay: float = opt(0.0, "AdamW decoupled weight decay")
    adam_betas: tuple[float, float] = opt((0.9, 0.98), "AdamW betas")
    adam_eps: float = opt(1e-8, "AdamW epsilon")
    clip_norm: float = opt(5.0, "clip the global gradient norm to this (0: no clipping)")
    grad_accum: int = opt(1, "batches accumulated per update (per process)")
    # --- batches ---
    max_tokens: int = opt(1_200_000, "audio samples per batch, padding included (75 s at 16 kHz)")
    max_batch_size: int | None = opt(None, "utterances per batch at most (None: no limit)")
    max_sample_size: int | None = opt(480_000, "longest utterance in samples; see long_utterances")
    min_sample_size: int = opt(0, "shorter utterances are skipped (samples)")
    long_utterances: str = opt("skip", "utterances over max_sample_size", choices=LONG)
    bad_input: str = opt(
        "skip", "missing/unreadable files, bad transcripts: skip (counted) or error", choices=BAD
    )
    speed_perturb: tuple[float, float] | None = opt(
        None,
        "speed perturbation of training audio: a factor per utterance and epoch drawn from "
        "[low, high] (e.g. 0.9 1.1); resampling changes tempo and pitch together, like sox speed",
    )
    formant_shift: tuple[float, float] | None = opt(
        None,
        "formant shift of training audio (Praat's Change gender, needs praat-parselmouth): a "
        "ratio per utterance and epoch drawn from [low, high] (e.g. 0.85 1.2); pitch and tempo "
        "stay, so with speed_perturb formants and pitch move apart",
    )
    formant_shift_prob: float = opt(0.5, "share of training utterances formant_shift changes")
    num_workers: int = opt(2, "DataLoader worker processes loading and resampling audio")
    sampling_rate: int = opt(16_000, "model input rate; audio is resampled to it")
    # --- runtime ---
    seed: int = opt(1, "random seed (data order, init, dropout, masks)")
    device: str = opt("auto", "auto, cpu, cuda or cuda:N (under torchrun: the local GPU)")
    precision: str = opt(
        "auto", "bf16: autocast (CPU, GPU); fp16: GPU, with a loss scaler", choices=PRECISIONS
    )
    threads: int | None = opt(None, "torch CPU threads per process (None: torch's default)")
    # --- logging and checkpoints ---
    log_every: int = opt(10, "updates between log lines (JSONL, TensorBoard, log file)")
    save_every: int = opt(1000, "updates between checkpoints (one is also written at the end)")
    keep_checkpoints: int = opt(2, "newest training checkpoints kept in OUT/checkpoints")
    eval_every: int = opt(1000, "updates between dev evaluations (0: only at the end)")
    progress: bool = opt(True, "show a progress bar (rank 0)")
    resume: bool = opt(False, "continue the run in --out from its newest checkpoint")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) not in allowed:
                raise ValueError(
                    f"{f.name} must be one of {allowed}, got {getattr(self, f.name)!r}"
                )
        positive = ("max_updates", "max_tokens", "grad_accum", "log_every", "save_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_sample_size is not None and self.max_sample_size > self.max_tokens:
            raise ValueError(
                f"max_sample_size ({self.max_sample_size}) must not exceed max_tokens "
                f"({self.max_tokens}): such an utterance would fit in no batch"
            )
        if abs(sum(self.phase_ratio) - 1.0) > 1e-6:
            raise ValueError(f"phase_ratio must sum to 1, got {self.phase_ratio}")
        for name in ("speed_perturb", "formant_shift"):
            factors = getattr(self, name)
            if factors is not None and not 0.5 <= factors[0] <= factors[1] <= 2.0:
                raise ValueError(
                    f"{name} must be two factors 0.5 <= low <= high <= 2, got {factors}"
                )
        if not 0.0 <= self.formant_shift_prob <= 1.0:
            raise ValueError(f"formant_shift_prob must be in [0, 1], got {self.formant_shift_prob}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    def augmentation(self) -> dict[str, Any]:
        """The `AudioDataset` options of the training audio's perturbations."""
        return {
            "speed": self.speed_perturb,
            "formants": self.formant_shift,
            "formant_prob": self.formant_shift_prob,
        }

    def check_paths(self) -> None:
        """The checks that need the required options (run before training, after merging)."""
        if not self.train:
            raise ValueError("--train MANIFEST is required")
        if not self.out:
            raise ValueError("--out DIR is required")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def save(self, folder: str | os.PathLike) -> str:
        from ..fileio import atomic_write_text

        path = os.path.join(folder, CONFIG_NAME)
        text = f"# effective options of this run ({type(self).__name__})\n"
        text += yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        atomic_write_text(path, text)
        return path


@dataclass(frozen=True)
class FinetuneConfig(TrainConfig):
    """CTC fine-tuning. Default lr: 5e-5 from a pre-trained --init, 1e-3 for a fresh model."""

    vocab: str | None = opt(
        None, "vocab.json (or a folder with one); None: --init's, else built", metavar="PATH"
    )
    do_lower_case: bool = opt(False, "upper-case transcripts for the vocabulary, lower-case output")
    freeze_feature_encoder: bool | None = opt(
        None, "never train the conv feature encoder (None: frozen with --init, trained if fresh)"
    )
    freeze_encoder_updates: int = opt(0, "train only the CTC head for the first N updates")
    mask_time_prob: float | None = opt(None, "SpecAugment: share of frames masked (None: model's)")
    mask_time_length: int | None = opt(None, "SpecAugment: time-mask span in frames")
    mask_feature_prob: float | None = opt(None, "SpecAugment: share of channels masked")
    mask_feature_length: int | None = opt(None, "SpecAugment: channel-mask span")
    best_metric: str = opt("cer", "dev metric that picks OUT/best", choices=("cer", "wer"))

    def validate(self) -> None:
        super().validate()
        if self.long_utterances == "crop":
            raise ValueError("long_utterances='crop' would cut transcripts apart; use 'skip'")


@dataclass(frozen=True)
class PretrainConfig(TrainConfig):
    """wav2vec 2.0 pre-training. Default lr 5e-4, warm-up then linear decay."""

    schedule: str = opt("warmup_decay", "learning-rate schedule", choices=SCHEDULES)
    weight_decay: float = opt(0.01, "AdamW decoupled weight decay")
    adam_eps: float = opt(1e-6, "AdamW epsilon")
    max_sample_size: int | None = opt(250_000, "longer utterances are cropped (15.6 s)")
    min_sample_size: int = opt(16_000, "shorter utterances are skipped (1 s)")
    long_utterances: str = opt("crop", "utterances over max_sample_size", choices=LONG)
    mask_prob: float = opt(0.65, "share of frames chosen as mask-span starts (upper bound)")
    mask_length: int = opt(10, "mask span in frames")
    min_masks: int = opt(2, "mask spans per utterance at least")
    num_negatives: int | None = opt(None, "distractors per masked frame (None: model's, 100)")
    gumbel_temperature: tuple[float, float, float] = opt(
        (2.0, 0.5, 0.999995), "Gumbel softmax temperature: start, end, decay per update"
    )
    feature_grad_mult: float = opt(0.1, "scale of gradients into the feature encoder (0: frozen)")
    diversity_loss_weight: float | None = opt(None, "weight of the diversity loss (None: model's)")


# ----------------------------------------------------------------------------- loading


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(name: str, value: Any, kind: Any) -> Any:
    """Check and convert `value` to the annotated type `kind`; a clear error otherwise."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return coerce(name, value, kind)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{name}: expected {len(args)} values, got {value!r}")
        return tuple(coerce(name, v, a) for v, a in zip(value, args, strict=True))
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{name}: expected a string, got {value!r}")
    if kind is dict or origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def load_config(cls: type, yaml_path: str | None = None, **overrides: Any):
    """defaults < YAML file < `overrides` (e.g. from CLI flags). Unknown keys raise."""
    data: dict[str, Any] = {}
    if yaml_path:
        try:
            with open(yaml_path, encoding="utf-8") as f:
                loaded = yaml.safe_load(f)
        except OSError as e:
            raise ValueError(f"{yaml_path}: cannot read config ({e.strerror or e})") from None
        except yaml.YAMLError as e:
            raise ValueError(f"{yaml_path}: not valid YAML ({e})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{yaml_path}: the config must be a mapping of option: value")
        data.update(loaded or {})
    model = (
        {**data.get("model", {}), **overrides.pop("model", {})}
        if ("model" in data or "model" in overrides)
        else None
    )
    data.update(overrides)
    if model is not None:
        data["model"] = model
    hints = field_types(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for {cls.__name__}; valid: {', '.join(sorted(hints))}"
        )
    values = {k: coerce(k, v, hints[k]) for k, v in data.items()}
    return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value
