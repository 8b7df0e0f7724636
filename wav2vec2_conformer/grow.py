"""Deepen a trained model: insert new conformer blocks that start as (near) identities.

Training a deeper model from scratch costs the updates the shallow one has already spent. A new
block whose residual branches end in zero weights (the two feed-forward output projections, the
attention output projection and the convolution module's last pointwise convolution) passes
its input through unchanged up to its final LayerNorm, so the deepened model starts where the
shallow one stopped and the new blocks learn from the first update: the gradient of a zero
output projection is the product of its (non-zero) input and the upstream gradient. This is
the zero-initialised residual trick of Goyal et al. 2017 and of Fixup/ReZero, used here for
growth as in progressive stacking (Gong et al. 2019), with fresh blocks instead of copies.

Each block ends in a LayerNorm, so a silent block would still renormalise its input. The new
block therefore takes over the scale and shift of the final LayerNorm of the block before it,
whose own norm keeps neither (`silence_block`): a LayerNorm of frames that are already
normalised is the identity, so the deepened model computes what the shallow one did.
"""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

from .average import write_like
from .checkpoint import architecture_class, resolve_model_dir
from .config import Wav2Vec2ConformerConfig

# the last projection of each residual branch of a ConformerLayer: zero makes the branch silent
ZERO_OUTPUTS = (
    "ffn1.output_dense",
    "self_attn.linear_out",
    "conv_module.pointwise_conv2",
    "ffn2.output_dense",
)


def insertion_plan(old: int, new: int) -> list[int | None]:
    """Where each block of the deepened stack comes from: an old block's index or None (new).

    New blocks are spread evenly, each after an old one: 4 -> 8 gives [0, N, 1, N, 2, N, 3, N],
    4 -> 6 gives [0, N, 1, 2, N, 3]."""
    if old < 1 or new < old:
        raise ValueError(f"cannot grow {old} conformer layers to {new}: need 1 <= old <= new")
    added = new - old
    # old block i is followed by (number of new blocks due after i+1 old ones) - (due after i)
    plan: list[int | None] = []
    for i in range(old):
        plan.append(i)
        plan.extend([None] * ((i + 1) * added // old - i * added // old))
    return plan


def silence_block(block: nn.Module, previous: nn.Module | None) -> None:
    """Zero the residual branches' output projections; take over the previous block's final norm.

    The previous block's final LayerNorm loses its scale and shift (to 1 and 0), so it hands on
    normalised frames, which this block's norm (with the scale and shift) leaves normalised:
    the pair computes what the previous norm computed alone (up to its epsilon)."""
    with torch.no_grad():
        for name in ZERO_OUTPUTS:
            proj = block.get_submodule(name)
            proj.weight.zero_()
            if proj.bias is not None:
                proj.bias.zero_()
        if previous is not None:  # the scale and shift move on; the previous norm keeps none
            norm, before = block.final_layer_norm, previous.final_layer_norm
            norm.load_state_dict(before.state_dict())
            before.weight.fill_(1.0)
            before.bias.zero_()


def _encoder(model: nn.Module) -> nn.Module:
    base = getattr(model, model.base_model_prefix, model)  # a head model or the bare encoder
    return base.encoder


def deepen(model: nn.Module, num_layers: int, seed: int = 0) -> nn.Module:
    """A copy of `model` (any class of this package) with `num_layers` conformer blocks.

    The old blocks keep their weights and order; the new ones get a fresh initialisation
    (seeded) with their residual outputs zeroed (`silence_block`)."""
    old_config: Wav2Vec2ConformerConfig = model.config
    old_layers = _encoder(model).layers
    plan = insertion_plan(len(old_layers), num_layers)
    config = copy.deepcopy(old_config)
    config.num_hidden_layers = num_layers
    torch.manual_seed(seed)
    grown = type(model)(config)
    # everything but the blocks carries over; a strict load refuses keys the new model lacks
    state = {k: v for k, v in model.state_dict().items() if ".encoder.layers." not in k}
    grown.load_state_dict({**grown.state_dict(), **state})
    new_layers = _encoder(grown).layers
    for i, source in enumerate(plan):
        if source is None:
            silence_block(new_layers[i], new_layers[i - 1] if i else None)
        else:
            new_layers[i].load_state_dict(old_layers[source].state_dict())
    return grown.train(model.training)


def deepen_folder(
    model_dir: str, out: str, num_layers: int, seed: int = 0, dtype: torch.dtype | None = None
) -> nn.Module:
    """`deepen` an HF-layout model folder into `out` (written whole, then swapped in), with the
    source folder's processor, tokenizer and LM files."""
    model_dir = resolve_model_dir(model_dir)
    if os.path.abspath(out) == os.path.abspath(model_dir):
        raise ValueError(f"{out}: the output would overwrite the model it grows")
    config = Wav2Vec2ConformerConfig.from_pretrained(model_dir)
    model = architecture_class(config).from_pretrained(model_dir)
    grown = deepen(model, num_layers, seed=seed)
    write_like(grown, model_dir, out, dtype)
    return grown
