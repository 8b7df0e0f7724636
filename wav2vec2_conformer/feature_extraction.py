"""Raw waveform -> model input: batching, padding, attention mask, per-utterance normalisation.

`Wav2Vec2FeatureExtractor` keeps the reference's name, `preprocessor_config.json` format and
call semantics, so a processor folder saved by either library loads in the other.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wav2vec2_conformer.fileio import atomic_write_text

FEATURE_EXTRACTOR_NAME = "preprocessor_config.json"
PROCESSOR_NAME = "processor_config.json"  # newer processor folders nest the extractor's config here
NESTED_KEYS = ("feature_extractor", "audio_processor")  # where processor_config.json nests it


class BatchFeature(dict):
    """A dict of model inputs with attribute access (`batch.input_values`) and `to(device)`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, *args: Any, **kwargs: Any) -> BatchFeature:
        """Move tensors to a device; a dtype (e.g. `torch.bfloat16`) casts floating tensors only."""
        import torch

        device = kwargs.get("device")
        if device is None and args and isinstance(args[0], (str, int, torch.device)):
            device = args[0]
        for key, value in self.items():
            if isinstance(value, torch.Tensor):
                if torch.is_floating_point(value):
                    self[key] = value.to(*args, **kwargs)
                elif device is not None:
                    self[key] = value.to(device=device)
        return self


def to_tensors(values: Any, return_tensors: str | None, key: str = "values") -> Any:
    """Stack a batch (list of equal-length sequences) as `"pt"` / `"np"`; None leaves it as is."""
    if return_tensors is None:
        return values
    if return_tensors not in ("pt", "np"):
        raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
    try:
        array = np.asarray(values)
    except ValueError:
        lengths = sorted({len(v) for v in values})
        raise ValueError(
            f"cannot stack {key} of different lengths {lengths} into one tensor; pass padding=True"
        ) from None
    if return_tensors == "np":
        return array
    import torch

    return torch.from_numpy(array)


def padding_strategy(padding: bool | str | None, max_length: int | None) -> str:
    """Map the reference's `padding` argument to 'do_not_pad', 'longest' or 'max_length'."""
    if padding is True:
        strategy = "longest"
    elif padding is False or padding is None:
        strategy = "do_not_pad"
    else:
        strategy = str(getattr(padding, "value", padding))  # also transformers' PaddingStrategy
    if strategy not in ("do_not_pad", "longest", "max_length"):
        raise ValueError(f"padding must be True, False, 'longest' or 'max_length', got {padding!r}")
    if strategy == "max_length" and max_length is None:
        raise ValueError("padding='max_length' needs max_length")
    return strategy


def round_up(n: int, multiple: int | None) -> int:
    return n if not multiple else -(-n // multiple) * multiple


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


class Wav2Vec2FeatureExtractor:
    """Pads raw 16 kHz (by default) mono waveforms and normalises each to zero mean, unit variance.

    Args:
        feature_size: values per time step; raw audio has 1 (the only size supported).
        sampling_rate: rate in Hz the model was trained at; other rates are rejected.
        padding_value: value of padded samples (also after normalisation).
        return_attention_mask: default for `__call__`; models with "layer" feature-encoder norm
            want the mask, "group"-norm models (e.g. wav2vec2-base) were trained without it.
        do_normalize: zero-mean unit-variance normalisation per utterance.
        padding_side: "right" or "left".
        **extra: other keys found in a saved config; kept and written back unchanged.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        return_attention_mask: bool = False,
        do_normalize: bool = True,
        padding_side: str = "right",
        **extra: Any,
    ) -> None:
        if feature_size != 1:
            raise ValueError(
                f"only raw mono audio (feature_size=1) is supported, got {feature_size}"
            )
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        self.feature_size = feature_size
        self.sampling_rate = sampling_rate
        self.padding_value = padding_value
        self.return_attention_mask = return_attention_mask
        self.do_normalize = do_normalize
        self.padding_side = padding_side
        extra.pop("processor_class", None)  # the reference drops it too
        extra.pop("feature_extractor_type", None)  # rewritten from the class name
        self.extra = extra

    def __call__(
        self,
        raw_speech: np.ndarray | Sequence[float] | Sequence[np.ndarray],
        padding: bool | str = False,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        sampling_rate: int | None = None,
    ) -> BatchFeature:
        """Featurise one waveform or a batch.

        `raw_speech` is one waveform (1-D array or list of floats) or a batch (2-D array, or list
        of 1-D arrays / lists); a 2-D array is a batch of rows, not a multi-channel signal.
        Returns `input_values` (float32) and, if asked or the default, `attention_mask` (int32);
        as lists of arrays, or stacked `(batch, samples)` with `return_tensors` "pt" / "np".
        """
        if sampling_rate is None:
            warnings.warn(
                "pass sampling_rate to the feature extractor to catch audio at the wrong rate",
                stacklevel=2,
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"audio sampled at {sampling_rate} Hz, but this feature extractor expects "
                f"{self.sampling_rate} Hz; resample it first (wav2vec2_conformer.audio.resample)"
            )
        batch = self._as_batch(raw_speech)
        strategy = padding_strategy(padding, max_length)
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        values, mask = self._pad(
            batch, None, strategy, max_length, truncation, pad_to_multiple_of, return_attention_mask
        )
        if self.do_normalize:
            values = self.zero_mean_unit_var_norm(values, mask, self.padding_value)
        out = BatchFeature(input_values=to_tensors(values, return_tensors, "input_values"))
        if mask is not None:
            out["attention_mask"] = to_tensors(mask, return_tensors, "attention_mask")
        return out

    def pad(
        self,
        processed_features: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Pad already-extracted features, e.g. in a data collator (no normalisation).

        Takes a dict of lists or a list of dicts holding `input_values` (and optionally
        `attention_mask`); other keys pass through. With `return_tensors=None` the output
        follows the input type: torch in -> "pt", anything else -> "np" (as the reference).
        """
        if isinstance(processed_features, Sequence) and processed_features:
            first = processed_features[0]
            if isinstance(first, Mapping):
                processed_features = {k: [ex[k] for ex in processed_features] for k in first}
        if not isinstance(processed_features, Mapping) or "input_values" not in processed_features:
            raise ValueError("pad() needs a dict (or a list of dicts) with 'input_values'")
        features = dict(processed_features)
        values = features.pop("input_values")
        if return_tensors is None:
            first = values[0] if len(values) else None
            return_tensors = "pt" if hasattr(first, "detach") or hasattr(values, "detach") else "np"
        values = [_to_numpy(v).astype(np.float32, copy=False) for v in values]
        masks = features.pop("attention_mask", None)
        if masks is not None:
            masks = [_to_numpy(m).astype(np.int32, copy=False) for m in masks]
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask or masks is not None
        values, masks = self._pad(
            values,
            masks,
            padding_strategy(padding, max_length),
            max_length,
            truncation,
            pad_to_multiple_of,
            return_attention_mask,
        )
        out = BatchFeature(input_values=to_tensors(values, return_tensors, "input_values"))
        if masks is not None:
            out["attention_mask"] = to_tensors(masks, return_tensors, "attention_mask")
        for key, value in features.items():
            out[key] = to_tensors([_to_numpy(v) for v in value], return_tensors, key)
        return out

    @staticmethod
    def zero_mean_unit_var_norm(
        input_values: list[np.ndarray],
        attention_mask: list[np.ndarray] | None,
        padding_value: float = 0.0,
    ) -> list[np.ndarray]:
        """Normalise each array over its valid samples (mask == 1, or all when no mask).

        As the reference: epsilon 1e-7 inside the square root, padded samples set to
        `padding_value` afterwards, and without a mask the padding takes part in the statistics.
        """
        out = []
        for i, x in enumerate(input_values):
            valid = x if attention_mask is None else x[attention_mask[i].astype(bool)]
            if valid.size == 0:  # nothing to normalise: all padding (or an empty waveform)
                out.append(np.full_like(x, padding_value))
                continue
            y = (x - valid.mean()) / np.sqrt(valid.var() + 1e-7)
            if attention_mask is not None:
                y[attention_mask[i] == 0] = padding_value
            out.append(y)
        return out

    def _as_batch(self, raw_speech: Any) -> list[np.ndarray]:
        """One waveform or a batch -> list of 1-D float32 arrays."""
        if hasattr(raw_speech, "detach") or isinstance(raw_speech, np.ndarray):
            raw_speech = _to_numpy(raw_speech)
            if raw_speech.ndim > 2:
                raise ValueError(
                    f"expected mono audio (samples,) or a batch, got {raw_speech.shape}"
                )
            batch = list(raw_speech) if raw_speech.ndim == 2 else [raw_speech]
        elif isinstance(raw_speech, (list, tuple)) and raw_speech:
            is_batch = isinstance(raw_speech[0], (list, tuple, np.ndarray)) or hasattr(
                raw_speech[0], "detach"
            )
            batch = [_to_numpy(x) for x in raw_speech] if is_batch else [np.asarray(raw_speech)]
        else:
            raise ValueError(f"expected a waveform or a batch of waveforms, got {raw_speech!r:.80}")
        for x in batch:
            if x.ndim != 1:
                raise ValueError(f"each waveform must be 1-D (mono samples), got shape {x.shape}")
        return [x.astype(np.float32) for x in batch]

    def _pad(
        self,
        values: list[np.ndarray],
        masks: list[np.ndarray] | None,
        strategy: str,
        max_length: int | None,
        truncation: bool,
        pad_to_multiple_of: int | None,
        return_attention_mask: bool,
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        if return_attention_mask and masks is None:
            masks = [np.ones(len(x), dtype=np.int32) for x in values]
        if truncation:
            if max_length is None:
                raise ValueError("truncation=True needs max_length")
            limit = round_up(max_length, pad_to_multiple_of)
            values = [x[:limit] for x in values]
            masks = None if masks is None else [m[:limit] for m in masks]
        if strategy == "do_not_pad":
            return values, masks
        target = max(map(len, values)) if strategy == "longest" else max_length
        target = round_up(target, pad_to_multiple_of)
        right = self.padding_side == "right"

        def widths(n: int) -> tuple[int, int]:
            return (0, max(target - n, 0)) if right else (max(target - n, 0), 0)

        values = [np.pad(x, widths(len(x)), constant_values=self.padding_value) for x in values]
        masks = None if masks is None else [np.pad(m, widths(len(m))) for m in masks]
        return values, masks

    # ---- saving and loading -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "feature_size": self.feature_size,
            "sampling_rate": self.sampling_rate,
            "padding_value": self.padding_value,
            "return_attention_mask": self.return_attention_mask,
            "do_normalize": self.do_normalize,
            "padding_side": self.padding_side,
            "feature_extractor_type": type(self).__name__,
        }

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory: str | os.PathLike) -> list[str]:
        """Write `preprocessor_config.json` into `save_directory` (atomically)."""
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, FEATURE_EXTRACTOR_NAME)
        atomic_write_text(path, self.to_json_string())
        return [path]

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], **overrides: Any) -> Wav2Vec2FeatureExtractor:
        return cls(**{**config, **overrides})

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> Wav2Vec2FeatureExtractor:
        """Load from a folder (or a JSON file); `overrides` replace saved values.

        As the reference, a `processor_config.json` with a nested "feature_extractor" takes
        precedence over `preprocessor_config.json`.
        """
        return cls.from_dict(load_feature_extractor_dict(path), **overrides)

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


def load_feature_extractor_dict(path: str | os.PathLike) -> dict[str, Any]:
    """The feature extractor's config from a folder or a JSON file."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return _read_json(path)
    nested = os.path.join(path, PROCESSOR_NAME)
    if os.path.isfile(nested):
        config = _read_json(nested)
        for key in NESTED_KEYS:
            if key in config:
                return dict(config[key])
    plain = os.path.join(path, FEATURE_EXTRACTOR_NAME)
    if not os.path.isfile(plain):
        raise FileNotFoundError(f"{path}: no {FEATURE_EXTRACTOR_NAME} (or nested {PROCESSOR_NAME})")
    return _read_json(plain)


def update_saved_config(path: str | os.PathLike, **values: Any) -> list[str]:
    """Set keys of the feature extractor's config saved in folder `path`: in
    `preprocessor_config.json` and in `processor_config.json`'s nested copy when there is one,
    so both loaders read the same. Each file is replaced atomically; returns the files written."""
    config = {**load_feature_extractor_dict(path), **values}
    written = Wav2Vec2FeatureExtractor.from_dict(config).save_pretrained(path)
    nested = os.path.join(path, PROCESSOR_NAME)
    if os.path.isfile(nested):
        outer = _read_json(nested)
        for key in NESTED_KEYS:
            if key in outer:
                outer[key] = {**outer[key], **values}
                atomic_write_text(nested, json.dumps(outer, indent=2, sort_keys=True) + "\n")
                written.append(nested)
                break
    return written


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
