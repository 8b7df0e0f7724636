"""Checkpoint averaging: one model whose weights are the element-wise mean of several snapshots.

The mean of the last few checkpoints of a run (taken while the learning rate decays) usually
scores a little better than any one of them: the snapshots sit around the same minimum and
their noise cancels (Vaswani et al. 2017 average the last 5-20 checkpoints; fairseq ships the
same tool). Inputs may be training checkpoints (`OUT/checkpoints/update_N.pt` of `w2vc finetune`
or `w2vc pretrain`), HF-layout model folders, or a run folder `OUT` (its newest checkpoints).
The result is an HF-layout folder: the config, processor and language-model files of a template
folder, with the averaged weights.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import zipfile
from collections.abc import Iterable, Sequence

import torch

from .checkpoint import (
    BIN_WEIGHTS,
    SAFE_WEIGHTS,
    CheckpointError,
    architecture_class,
    load_into,
    load_state_dict,
    save_pretrained,
)
from .config import Wav2Vec2ConformerConfig
from .decoder import LM_FOLDER
from .fileio import atomic_folder
from .train.loop import CHECKPOINT_DIR, checkpoints

RUN_MODELS = ("final", "best")  # HF-layout folders a training run leaves, used as templates


def _is_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json"))


def expand_inputs(inputs: Sequence[str], last: int | None) -> list[str]:
    """Checkpoint files and model folders as given; a run folder becomes its newest `last`
    checkpoints (all of them when `last` is None)."""
    paths = []
    for path in inputs:
        if os.path.isdir(path) and not _is_model_dir(path):
            found = [ckpt for _, ckpt in checkpoints(path)]
            if not found:
                raise CheckpointError(
                    f"{path}: neither a model folder (no config.json) nor a training run "
                    f"(no {CHECKPOINT_DIR}/update_N.pt)"
                )
            paths += found[-last:] if last else found
        elif os.path.exists(path):
            paths.append(path)
        else:
            raise CheckpointError(f"{path}: no such checkpoint or folder")
    if len(set(paths)) != len(paths):
        raise CheckpointError("the same checkpoint is named twice")
    return paths


def find_template(paths: Sequence[str]) -> str:
    """The first model folder among the inputs that has a language model (a training run's
    `final/` has none), else the first model folder, else the `final/` or `best/` folder of the
    run that holds the first training checkpoint."""
    folders = [path for path in paths if os.path.isdir(path)]
    if folders:
        with_lm = (f for f in folders if os.path.isdir(os.path.join(f, LM_FOLDER)))
        return next(with_lm, folders[0])
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(paths[0])))
    for name in RUN_MODELS:
        if _is_model_dir(os.path.join(run_dir, name)):
            return os.path.join(run_dir, name)
    raise CheckpointError(
        f"no model folder to take the config and processor files from (looked for "
        f"{' and '.join(RUN_MODELS)}/ in {run_dir}); name one with --like"
    )


def read_weights(path: str) -> dict[str, torch.Tensor]:
    """The model weights of an HF-layout folder or of a training checkpoint file."""
    if os.path.isdir(path):
        return load_state_dict(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)  # the loop's own format
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({e})") from None
    model = state.get("model") if isinstance(state, dict) else None
    if not isinstance(model, dict):
        raise CheckpointError(f"{path}: not a training checkpoint (no 'model' weights in it)")
    return model


def mean_state(states: Iterable[tuple[str, dict[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of (name, state dict) pairs, consumed one at a time (one model's worth
    of float64 sums in memory, however many inputs). Floating tensors are averaged and keep the
    first input's dtype; other tensors (counters) are the first input's. Keys and shapes must
    match."""
    total: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    first, count = "", 0
    for name, state in states:
        if not count:
            first = name
            dtypes = {k: v.dtype for k, v in state.items()}
            total = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
        else:
            differ = sorted(set(total) ^ set(state))
            if differ:
                raise CheckpointError(
                    f"{name}: keys differ from {first}'s ({', '.join(differ[:5])})"
                )
            for k, v in state.items():
                if v.shape != total[k].shape:
                    raise CheckpointError(
                        f"{name}: {k} has shape {tuple(v.shape)}, "
                        f"{first} has {tuple(total[k].shape)}"
                    )
                if total[k].is_floating_point():
                    total[k] += v.double()
        count += 1
    if not count:
        raise CheckpointError("nothing to average")
    return {k: (v / count).to(dtypes[k]) if v.is_floating_point() else v for k, v in total.items()}


def _copy_template(template: str, folder: str) -> None:
    """Everything of the template folder but its weights."""
    for name in os.listdir(template):
        if name.startswith((SAFE_WEIGHTS, BIN_WEIGHTS, "model-", "pytorch_model-")):
            continue
        src, dst = os.path.join(template, name), os.path.join(folder, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


def average_checkpoints(
    inputs: Sequence[str],
    out: str,
    last: int | None = None,
    like: str | None = None,
    dtype: torch.dtype | None = None,
) -> list[str]:
    """Average the weights of `inputs` into the HF-layout folder `out` (written whole, then
    swapped in; its weights stored as `dtype`, default float32); returns the checkpoints
    averaged."""
    paths = expand_inputs(inputs, last)
    template = like or find_template(paths)
    if not _is_model_dir(template):
        raise CheckpointError(f"{template}: not a model folder (no config.json)")
    if os.path.abspath(out) in {os.path.abspath(p) for p in paths}:
        raise CheckpointError(f"{out}: the output would overwrite one of the inputs")
    from tqdm import tqdm

    config = Wav2Vec2ConformerConfig.from_json_file(os.path.join(template, "config.json"))
    model = architecture_class(config)(config)
    with tqdm(paths, desc="averaging", unit="ckpt", file=sys.stderr, disable=None) as bar:
        averaged = mean_state((p, read_weights(p)) for p in bar)
    load_into(model, averaged)  # the template's rules: a misfit is an error
    write_like(model, template, out, dtype)
    return paths


def write_like(
    model: torch.nn.Module, template: str, out: str, dtype: torch.dtype | None = None
) -> None:
    """Write `model` as the HF-layout folder `out` (written whole, then swapped in; weights
    stored as `dtype`) with every other file of the model folder `template` (processor,
    tokenizer, LM)."""
    with atomic_folder(out) as tmp:
        os.makedirs(tmp)
        _copy_template(template, tmp)
        save_pretrained(model, tmp, dtype=dtype)
