"""Padding of token-id batches (the tokenizer's `pad`), as pure functions.

Inputs may be lists, numpy arrays or torch tensors, one sequence or a batch; without
`return_tensors` the output follows the input's type, as the reference does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wav2vec2_conformer.feature_extraction import (
    BatchFeature,
    padding_strategy,
    round_up,
    to_tensors,
)


def pad_ids(
    encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    pad_id: int | None,
    padding: bool | str = True,
    max_length: int | None = None,
    pad_to_multiple_of: int | None = None,
    left: bool = False,
    return_attention_mask: bool | None = None,
    return_tensors: str | None = None,
) -> BatchFeature:
    """Pad `input_ids` (a dict of lists, or a list of dicts as in a data collator) with `pad_id`
    on the right (or `left`); `attention_mask` is kept, or made, and padded with 0."""
    if isinstance(encoded_inputs, Sequence) and encoded_inputs:
        if isinstance(encoded_inputs[0], Mapping):
            encoded_inputs = {k: [ex[k] for ex in encoded_inputs] for k in encoded_inputs[0]}
    if not isinstance(encoded_inputs, Mapping) or "input_ids" not in encoded_inputs:
        raise ValueError("pad() needs a dict (or a list of dicts) with 'input_ids'")
    ids = encoded_inputs["input_ids"]
    if return_tensors is None and len(ids):  # follow the input's type
        if hasattr(ids, "detach") or hasattr(ids[0], "detach"):
            return_tensors = "pt"
        elif isinstance(ids, np.ndarray) or isinstance(ids[0], np.ndarray):
            return_tensors = "np"
    ids, single = as_batch(ids)
    masks = encoded_inputs.get("attention_mask")
    masks = as_batch(masks)[0] if masks is not None else [[1] * len(x) for x in ids]
    strategy = padding_strategy(padding, max_length)
    if strategy != "do_not_pad":
        target = max(map(len, ids)) if strategy == "longest" else max_length
        target = round_up(target, pad_to_multiple_of)
        ids = [_pad_list(x, target, pad_id, left) for x in ids]
        masks = [_pad_list(m, target, 0, left) for m in masks]
    out = BatchFeature(input_ids=ids)
    if return_attention_mask is not False:
        out["attention_mask"] = masks
    for key, value in out.items():
        out[key] = to_tensors(value[0] if single else value, return_tensors, key)
    return out


def to_list(ids: Any) -> list[int]:
    """Ids as a list of ints; an int, array or tensor (one sequence) is accepted too."""
    if hasattr(ids, "tolist"):  # numpy array, torch tensor
        ids = ids.tolist()
    return [int(ids)] if isinstance(ids, (int, np.integer)) else list(ids)


def as_batch(seqs: Any) -> tuple[list[list[int]], bool]:
    """One sequence or a batch of them -> (list of lists of ints, whether it was one)."""
    seqs = seqs.tolist() if hasattr(seqs, "tolist") else list(seqs)
    single = bool(seqs) and isinstance(seqs[0], (int, np.integer))
    return ([to_list(seqs)] if single else [to_list(s) for s in seqs]), single


def _pad_list(x: list[int], length: int, value: int | None, left: bool) -> list[int]:
    pad = [value] * max(length - len(x), 0)
    return pad + x if left else x + pad
