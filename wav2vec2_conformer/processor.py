"""The feature extractor and the tokenizer as one object, saved in one folder.

`save_pretrained` writes what the reference's `Wav2Vec2Processor` (transformers 5.23) writes:
`processor_config.json` (holding the feature extractor's config under "feature_extractor"),
`tokenizer_config.json` (with "processor_class"), `vocab.json`, plus `special_tokens_map.json`.
`from_pretrained` also reads older folders with `preprocessor_config.json`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from wav2vec2_conformer.feature_extraction import PROCESSOR_NAME, Wav2Vec2FeatureExtractor
from wav2vec2_conformer.fileio import atomic_write_text
from wav2vec2_conformer.tokenizer import Wav2Vec2CTCTokenizer

# Which keyword arguments of `__call__` / `pad` go to which part (both when shared).
_AUDIO_KWARGS = {
    "padding",
    "max_length",
    "truncation",
    "pad_to_multiple_of",
    "return_attention_mask",
    "return_tensors",
}
_TEXT_KWARGS = {*_AUDIO_KWARGS, "padding_side"}
_TEXT_PAD_KWARGS = _TEXT_KWARGS - {"truncation"}


class Wav2Vec2Processor:
    """`processor(audio=..., sampling_rate=...)` -> input_values; `processor(text=...)` -> ids;
    both -> input_values with the text's ids as `labels` (as the reference)."""

    def __init__(
        self, feature_extractor: Wav2Vec2FeatureExtractor, tokenizer: Wav2Vec2CTCTokenizer
    ) -> None:
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    @property
    def model_input_names(self) -> list[str]:
        return self.feature_extractor.model_input_names + ["labels"]

    def __call__(
        self,
        audio: Any = None,
        text: str | list[str] | None = None,
        sampling_rate: int | None = None,
        audio_kwargs: dict[str, Any] | None = None,
        text_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Shared keyword arguments (padding, return_tensors, ...) go to both parts;
        `audio_kwargs` / `text_kwargs` set one part only (plain keywords win, as the reference)."""
        if audio is None and text is None:
            raise ValueError("give audio, text or both")
        unknown = set(kwargs) - _TEXT_KWARGS
        if unknown:
            raise TypeError(f"unexpected keyword arguments: {sorted(unknown)}")
        inputs = encodings = None
        if audio is not None:
            a_kwargs = {**(audio_kwargs or {}), **_pick(kwargs, _AUDIO_KWARGS)}
            inputs = self.feature_extractor(audio, sampling_rate=sampling_rate, **a_kwargs)
        if text is not None:
            encodings = self.tokenizer(
                text, **{**(text_kwargs or {}), **_pick(kwargs, _TEXT_KWARGS)}
            )
        if inputs is None:
            return encodings
        if encodings is not None:
            inputs["labels"] = encodings["input_ids"]
        return inputs

    def pad(
        self,
        input_features: Any = None,
        labels: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Pad features (`feature_extractor.pad`) and/or labels (`tokenizer.pad`), e.g. in a
        data collator; padded label ids are the pad id (replace them with -100 for a CTC loss)."""
        unknown = set(kwargs) - _TEXT_KWARGS
        if unknown:
            raise TypeError(f"unexpected keyword arguments: {sorted(unknown)}")
        if input_features is not None:
            input_features = self.feature_extractor.pad(
                input_features, **_pick(kwargs, _AUDIO_KWARGS)
            )
        if labels is not None:
            labels = self.tokenizer.pad(labels, **_pick(kwargs, _TEXT_PAD_KWARGS))
        if labels is None:
            return input_features
        if input_features is None:
            return labels
        input_features["labels"] = labels["input_ids"]
        return input_features

    def batch_decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.decode(*args, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike) -> list[str]:
        os.makedirs(save_directory, exist_ok=True)
        config = {
            "feature_extractor": self.feature_extractor.to_dict(),
            "processor_class": type(self).__name__,
        }
        path = os.path.join(save_directory, PROCESSOR_NAME)
        atomic_write_text(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
        extra = {"processor_class": type(self).__name__}
        return [path, *self.tokenizer.save_pretrained(save_directory, extra_config=extra)]

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> Wav2Vec2Processor:
        return cls(
            Wav2Vec2FeatureExtractor.from_pretrained(path),
            Wav2Vec2CTCTokenizer.from_pretrained(path),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.feature_extractor!r}, {self.tokenizer!r})"


def _pick(kwargs: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k in keys}
