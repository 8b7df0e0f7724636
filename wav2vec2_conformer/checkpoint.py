"""HF-layout checkpoints: read and write `config.json` plus safetensors / pytorch `.bin` weights,
single-file or sharded (`*.index.json`), and map their keys onto a model.

Loading rules (mirroring what users expect from the reference):
- weight-norm keys of the positional conv load from either naming scheme
  (`weight_g`/`weight_v`, or `parametrizations.weight.original0/1`);
- a head-less checkpoint loads into a head model (the head is freshly initialised, with a warning
  naming its keys) and a head checkpoint loads into the bare model (head weights unused, warning);
- weights of another head (e.g. the quantizer of a pre-training checkpoint loaded for CTC) are
  reported as unused, with a warning;
- any other missing or unexpected key, or a shape mismatch, raises `CheckpointError` listing them
  (`ignore_mismatched_sizes=True` re-initialises mismatched weights instead).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import zipfile
from typing import Any

import torch

from .config import Wav2Vec2ConformerConfig
from .fileio import atomic_path, atomic_write_text
from .quantize import dequantize_state, quantize_state

logger = logging.getLogger("wav2vec2_conformer")

SAFE_WEIGHTS = "model.safetensors"
BIN_WEIGHTS = "pytorch_model.bin"
# keys the model can rebuild on its own: their absence is not an error
OPTIONAL_KEYS = ("embed_positions.inv_freq", "num_batches_tracked")
LEGACY_WEIGHT_NORM = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model, or cannot be read."""


def resolve_model_dir(path: str | os.PathLike) -> str:
    """A local directory as is; otherwise a hub id ("org/name") downloaded with huggingface_hub."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return path
    if os.path.exists(path):
        raise CheckpointError(f"{path}: expected a model directory, got a file")
    looks_like_hub_id = path.count("/") == 1 and not path.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise CheckpointError(f"{path}: no such model directory")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(
            f"{path}: not a local directory; install huggingface_hub to download it from the hub"
        ) from None
    patterns = ["*.json", "*.safetensors", "*.bin", "*.txt", "*.model"]
    try:
        return snapshot_download(repo_id=path, allow_patterns=patterns)
    except Exception as e:  # network errors, missing repo, offline mode
        reason = " ".join(str(e).split())[:300]  # hub errors span several lines
        raise CheckpointError(
            f"{path}: no such local directory, and could not download it from the hub "
            f"({type(e).__name__}: {reason})"
        ) from None


def _read_weight_file(path: str) -> dict[str, torch.Tensor]:
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path, device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: weight file is missing") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: unreadable or truncated weight file ({e})") from None
    except Exception as e:  # safetensors raises its own error type for corrupt headers
        raise CheckpointError(f"{path}: unreadable weight file ({type(e).__name__}: {e})") from None


def load_state_dict(model_dir: str) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory (safetensors preferred, then .bin; sharded or not),
    int8-stored weights turned back into float32 (`quantize.dequantize_state`)."""
    state = _read_state_dict(model_dir)
    try:
        return dequantize_state(state)
    except ValueError as e:
        raise CheckpointError(f"{model_dir}: {e}") from None


def _read_state_dict(model_dir: str) -> dict[str, torch.Tensor]:
    for name in (SAFE_WEIGHTS, BIN_WEIGHTS):
        single = os.path.join(model_dir, name)
        index = single + ".index.json"
        if os.path.isfile(single):
            return _read_weight_file(single)
        if os.path.isfile(index):
            try:
                with open(index, encoding="utf-8") as f:
                    weight_map = json.load(f)["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise CheckpointError(f"{index}: malformed shard index ({e})") from None
            state: dict[str, torch.Tensor] = {}
            for shard in sorted(set(weight_map.values())):
                state.update(_read_weight_file(os.path.join(model_dir, shard)))
            missing = sorted(set(weight_map) - set(state))
            if missing:
                raise CheckpointError(f"{index}: keys listed but absent from shards: {missing[:5]}")
            return state
    raise CheckpointError(
        f"{model_dir}: no weights found "
        f"(expected {SAFE_WEIGHTS} or {BIN_WEIGHTS}, or a sharded index)"
    )


def _rename_legacy(key: str) -> str:
    for old, new in LEGACY_WEIGHT_NORM.items():
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


def map_state_dict(
    model: torch.nn.Module, state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename checkpoint keys to the model's: legacy weight-norm names, and the base-model
    prefix added (head-less checkpoint into a head model) or removed (head checkpoint into a
    bare model)."""
    prefix = model.base_model_prefix + "."
    state = {_rename_legacy(k): v for k, v in state.items()}
    model_has_prefix = any(k.startswith(prefix) for k in model.state_dict())
    ckpt_has_prefix = any(k.startswith(prefix) for k in state)
    if model_has_prefix and not ckpt_has_prefix:
        return {prefix + k: v for k, v in state.items()}
    if not model_has_prefix and ckpt_has_prefix:
        # head weights (no prefix) stay unprefixed and are reported as unused
        return {
            (k[len(prefix) :] if k.startswith(prefix) else "<head>." + k): v
            for k, v in state.items()
        }
    return state


def _in_base(model: torch.nn.Module, key: str) -> bool:
    prefix = model.base_model_prefix + "."
    return key.startswith(prefix) or not hasattr(model, model.base_model_prefix)


def load_into(
    model: torch.nn.Module, state: dict[str, torch.Tensor], ignore_mismatched_sizes: bool = False
) -> None:
    """Copy `state` into `model` under the rules in this module's docstring."""
    state = map_state_dict(model, state)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and state[k].shape != own[k].shape]

    missing_required = [k for k in missing if not k.endswith(OPTIONAL_KEYS)]
    new_head = [k for k in missing_required if not _in_base(model, k)]
    new_mask = [k for k in missing_required if k.endswith("masked_spec_embed")]
    missing_base = [k for k in missing_required if k not in new_head and k not in new_mask]
    # a SpecAugment embedding is unused, not wrong, in a model built with masking off
    unused = [
        k
        for k in unexpected
        if k.startswith("<head>.") or not _in_base(model, k) or k.endswith("masked_spec_embed")
    ]
    unexpected_base = [k for k in unexpected if k not in unused]

    problems = []
    if missing_base:
        problems.append(f"missing keys: {', '.join(missing_base)}")
    if unexpected_base:
        problems.append(f"unexpected keys: {', '.join(unexpected_base)}")
    if mismatched and not ignore_mismatched_sizes:
        problems.append(
            "shape mismatches: "
            + ", ".join(
                f"{k} checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                for k in mismatched
            )
            + " (pass ignore_mismatched_sizes=True to re-initialise them)"
        )
    if problems:
        raise CheckpointError(
            f"checkpoint does not fit {type(model).__name__}: " + "; ".join(problems)
        )
    if new_head or new_mask:
        logger.warning(
            "Newly initialised weights of %s (not in the checkpoint; train them before use): %s",
            type(model).__name__,
            ", ".join(new_head + new_mask),
        )
    if unused:
        logger.warning(
            "Checkpoint weights not used by %s: %s",
            type(model).__name__,
            ", ".join(k.removeprefix("<head>.") for k in unused),
        )
    if mismatched:
        logger.warning("Re-initialised weights with mismatched shapes: %s", ", ".join(mismatched))
    keep = {k: v for k, v in state.items() if k in own and k not in mismatched}
    model.load_state_dict(keep, strict=False)


def architecture_class(config: Wav2Vec2ConformerConfig) -> type:
    """The model class named by config.json's `architectures` (the bare encoder if none)."""
    import wav2vec2_conformer as w

    arch = (config.extra.get("architectures") or ["Wav2Vec2ConformerModel"])[0]
    return getattr(w, arch, w.Wav2Vec2ConformerModel)


def load_pretrained(cls, path: str | os.PathLike, **kwargs: Any):
    """Build `cls` from a model directory (or hub id) and load its weights."""
    ignore_mismatched = kwargs.pop("ignore_mismatched_sizes", False)
    dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None)
    model_dir = resolve_model_dir(path)
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{model_dir}: no config.json")
    config = Wav2Vec2ConformerConfig.from_json_file(config_path, **kwargs)
    model = cls(config)
    load_into(model, load_state_dict(model_dir), ignore_mismatched)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def _shards(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in state.items():
        n = v.numel() * v.element_size()
        if shards[-1] and size + n > max_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += n
    return shards


def _write_weights(state: dict[str, torch.Tensor], path: str, safe: bool) -> None:
    with atomic_path(path) as tmp:
        if safe:
            from safetensors.torch import save_file

            save_file(state, tmp, metadata={"format": "pt"})
        else:
            torch.save(state, tmp)


def save_pretrained(
    model: torch.nn.Module,
    path: str | os.PathLike,
    safe_serialization: bool = True,
    max_shard_size: int | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Write config.json and the weights in HF layout; every file is written atomically.

    `dtype` (e.g. torch.float16) stores the floating weights in that type, half the bytes of
    float32; loading casts them back to the model's type. torch.int8 stores the large weight
    matrices as int8 with per-channel scales and the rest as float16 (`quantize`)."""
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    config = model.config
    config.extra["architectures"] = [type(model).__name__]
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    config.extra.pop("quantization", None)
    if dtype == torch.int8:
        state = quantize_state(state)
        config.extra["quantization"] = "int8 per output channel"  # see quantize.py
    elif dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    stored = next((v.dtype for v in state.values() if v.is_floating_point()), torch.float32)
    config.extra["dtype"] = str(stored).removeprefix("torch.")  # what the weights are stored as
    config.save_pretrained(path)
    name = SAFE_WEIGHTS if safe_serialization else BIN_WEIGHTS
    shards = _shards(state, max_shard_size) if max_shard_size else [state]
    if len(shards) == 1:
        _write_weights(state, os.path.join(path, name), safe_serialization)
        return
    stem, ext = os.path.splitext(name)
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        shard_name = f"{stem}-{i:05d}-of-{len(shards):05d}{ext}"
        _write_weights(shard, os.path.join(path, shard_name), safe_serialization)
        weight_map.update(dict.fromkeys(shard, shard_name))
    total = sum(v.numel() * v.element_size() for v in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    atomic_write_text(os.path.join(path, name + ".index.json"), json.dumps(index, indent=2) + "\n")
