"""Test helpers: build the reference (HuggingFace transformers) model with random weights from a
small config, save it, and load it into ours. Only tests import transformers."""

from __future__ import annotations

import torch

import wav2vec2_conformer as ours

ATOL = 1e-5

TINY = dict(
    vocab_size=12,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=20,
    conv_dim=[8, 8, 8],
    conv_stride=[5, 2, 2],
    conv_kernel=[10, 3, 3],
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
    conv_depthwise_kernel_size=5,
    classifier_proj_size=8,
    tdnn_dim=[8, 8, 10],
    tdnn_kernel=[3, 3, 1],
    tdnn_dilation=[1, 2, 1],
    xvector_output_dim=6,
    num_labels=3,
    num_codevectors_per_group=8,
    num_codevector_groups=2,
    codevector_dim=8,
    proj_codevector_dim=6,
    num_negatives=5,
    mask_time_prob=0.2,
    mask_time_length=2,
)


def reference_class(name: str):
    import transformers

    return getattr(transformers, name)


def build_reference(name: str, seed: int = 0, **overrides):
    """A reference model with every weight and buffer randomised (so LayerNorm/BatchNorm
    defaults of 1 and 0 cannot hide a mistake), in eval mode, with eager attention."""
    from transformers import Wav2Vec2ConformerConfig

    cfg = Wav2Vec2ConformerConfig(**{**TINY, **overrides})
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    return randomise(reference_class(name)(cfg))


def randomise(model, scale: float = 0.2):
    """`model` (in eval mode) with every weight moved off its init by `scale` * N(0, 1) and
    batch-norm statistics drawn, so LayerNorm/BatchNorm defaults of 1 and 0 hide nothing."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
        for key, b in model.named_buffers():
            if key.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
            elif key.endswith("running_mean"):
                b.copy_(0.2 * torch.randn_like(b))
    return model.eval()


def reference_to_ours(ref, ours_cls, tmp_path):
    """Save the reference model and load it with our class (the user path)."""
    ref.save_pretrained(tmp_path)
    return ours_cls.from_pretrained(tmp_path).eval()


def batch(lengths=(4000, 3100, 2300), seed: int = 1):
    """A right-padded batch of random 'audio' and its sample-level attention mask."""
    g = torch.Generator().manual_seed(seed)
    n = max(lengths)
    x = torch.randn(len(lengths), n, generator=g)
    mask = torch.zeros(len(lengths), n, dtype=torch.long)
    for i, length in enumerate(lengths):
        mask[i, :length] = 1
        x[i, length:] = 0.0
    return x, mask


def assert_close(a, b, what: str, atol: float = ATOL, rtol: float = 0.0):
    """max |a - b| <= atol + rtol * max |b|."""
    if isinstance(a, tuple | list):
        assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} entries"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{what}[{i}]", atol, rtol)
        return
    assert a is not None and b is not None, f"{what}: one side is None"
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    diff = (a.double() - b.double()).abs().max().item()
    atol = atol + rtol * b.double().abs().max().item()
    assert diff <= atol, f"{what}: max abs difference {diff:.3g} > {atol}"


def compare_outputs(mine, theirs, fields):
    for f in fields:
        # losses are sums over many frames (hundreds in size): compare them at float32's
        # relative resolution instead of an absolute 1e-5
        rtol = 1e-6 if "loss" in f else 0.0
        assert_close(getattr(mine, f), getattr(theirs, f), f, rtol=rtol)


__all__ = [
    "ours",
    "build_reference",
    "reference_to_ours",
    "batch",
    "assert_close",
    "compare_outputs",
]
