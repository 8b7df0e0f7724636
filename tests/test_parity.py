"""Parity with the reference (transformers 5.23.0) on the same random weights, fp32, atol 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import assert_close, batch, build_reference, compare_outputs, reference_to_ours

import wav2vec2_conformer as w

VARIANTS = [
    dict(position_embeddings_type="relative", feat_extract_norm="group", conv_bias=False),
    dict(position_embeddings_type="rotary", feat_extract_norm="layer", conv_bias=True),
    dict(position_embeddings_type=None, feat_extract_norm="group", conv_bias=True),
    dict(
        position_embeddings_type="relative",
        feat_extract_norm="layer",
        conv_bias=False,
        hidden_act="relu",
        feat_extract_activation="gelu_new",
    ),
    dict(
        position_embeddings_type="rotary",
        feat_extract_norm="group",
        conv_bias=False,
        num_conv_pos_embeddings=15,
        hidden_act="swish",
    ),
]
IDS = [
    "relative-group",
    "rotary-layer-bias",
    "none-group-bias",
    "relative-layer-relu",
    "rotary-oddpos",
]


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_bare_model_all_fields(variant, tmp_path):
    ref = build_reference("Wav2Vec2ConformerModel", **variant)
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerModel, tmp_path)
    x, mask = batch()
    kw = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        theirs = ref(x, attention_mask=mask, **kw)
        out = mine(x, attention_mask=mask, **kw)
        # and without a mask (every sample valid)
        theirs_nomask = ref(x[:1, :3000], **kw)
        out_nomask = mine(x[:1, :3000], **kw)
    fields = ["last_hidden_state", "extract_features", "hidden_states", "attentions"]
    compare_outputs(out, theirs, fields)
    compare_outputs(out_nomask, theirs_nomask, fields)
    assert len(out.hidden_states) == ref.config.num_hidden_layers + 1


def test_hidden_states_last_is_before_final_layer_norm(tmp_path):
    """Documents which reference release we match (5.x): hidden_states[-1] is pre-LayerNorm."""
    ref = build_reference("Wav2Vec2ConformerModel")
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerModel, tmp_path)
    x, _ = batch((3000,))
    with torch.no_grad():
        out = mine(x, output_hidden_states=True)
    ln = mine.encoder.layer_norm
    assert_close(ln(out.hidden_states[-1]), out.last_hidden_state, "layer_norm(hidden_states[-1])")
    assert (out.hidden_states[-1] - out.last_hidden_state).abs().max() > 1e-3


def test_adapter(tmp_path):
    over = dict(add_adapter=True, output_hidden_size=12, num_adapter_layers=2)
    ref = build_reference("Wav2Vec2ConformerForCTC", **over)
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerForCTC, tmp_path)
    x, mask = batch()
    labels = torch.tensor([[3, 4, 5, 5], [6, 7, -100, -100], [8, -100, -100, -100]])
    with torch.no_grad():
        theirs = ref(x, attention_mask=mask, labels=labels, output_hidden_states=True)
        out = mine(x, attention_mask=mask, labels=labels, output_hidden_states=True)
    compare_outputs(out, theirs, ["logits", "loss", "hidden_states"])
    frames = mine.feat_extract_output_lengths(torch.tensor(x.shape[1]))
    assert out.logits.shape[1] == frames
    assert frames == ref._get_feat_extract_output_lengths(torch.tensor(x.shape[1]))


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_ctc_loss_padded_batch(reduction, tmp_path):
    ref = build_reference(
        "Wav2Vec2ConformerForCTC", ctc_loss_reduction=reduction, position_embeddings_type="rotary"
    )
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerForCTC, tmp_path)
    x, mask = batch()
    labels = torch.tensor([[3, 4, 4, 5, 9], [6, 7, 11, -100, -100], [8, 0, -100, -100, -100]])
    with torch.no_grad():
        theirs = ref(x, attention_mask=mask, labels=labels, output_attentions=True)
        out = mine(x, attention_mask=mask, labels=labels, output_attentions=True)
    compare_outputs(out, theirs, ["logits", "loss", "attentions"])


def test_ctc_gradients_match(tmp_path):
    ref = build_reference("Wav2Vec2ConformerForCTC", layerdrop=0.0)
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerForCTC, tmp_path)
    # float64: the backward passes sum in different orders (SDPA vs eager), which in fp32 gives
    # ~1e-4 relative noise on large gradients; in fp64 the two must agree to rounding
    ref, mine = ref.double(), mine.double()
    x, mask = batch()
    x = x.double()
    labels = torch.tensor([[3, 4, 5], [6, 7, -100], [8, -100, -100]])
    ref(x, attention_mask=mask, labels=labels).loss.backward()
    mine(x, attention_mask=mask, labels=labels).loss.backward()
    for (name, p), (_, q) in zip(ref.named_parameters(), mine.named_parameters(), strict=True):
        if p.grad is None:
            assert q.grad is None or q.grad.abs().max() == 0, name
            continue
        assert_close(q.grad, p.grad, f"grad of {name}", atol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_sequence_classification(weighted, tmp_path):
    ref = build_reference(
        "Wav2Vec2ConformerForSequenceClassification", use_weighted_layer_sum=weighted
    )
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerForSequenceClassification, tmp_path)
    x, mask = batch()
    labels = torch.tensor([2, 0, 1])
    with torch.no_grad():
        theirs = ref(x, attention_mask=mask, labels=labels, output_hidden_states=True)
        out = mine(x, attention_mask=mask, labels=labels, output_hidden_states=True)
        theirs_nomask = ref(x, labels=labels)
        out_nomask = mine(x, labels=labels)
    compare_outputs(out, theirs, ["logits", "loss", "hidden_states"])
    compare_outputs(out_nomask, theirs_nomask, ["logits", "loss"])


@pytest.mark.parametrize("weighted", [False, True])
def test_audio_frame_classification(weighted, tmp_path):
    ref = build_reference(
        "Wav2Vec2ConformerForAudioFrameClassification", use_weighted_layer_sum=weighted
    )
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerForAudioFrameClassification, tmp_path)
    x, mask = batch()
    with torch.no_grad():
        frames = mine(x).logits.shape[1]
        labels = torch.nn.functional.one_hot(torch.randint(0, 3, (3, frames)), 3).float()
        theirs = ref(x, attention_mask=mask, labels=labels)
        out = mine(x, attention_mask=mask, labels=labels)
    compare_outputs(out, theirs, ["logits", "loss"])


@pytest.mark.parametrize("weighted", [False, True])
def test_xvector(weighted, tmp_path):
    ref = build_reference("Wav2Vec2ConformerForXVector", use_weighted_layer_sum=weighted)
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerForXVector, tmp_path)
    x, mask = batch()
    labels = torch.tensor([1, 2, 0])
    with torch.no_grad():
        theirs = ref(x, attention_mask=mask, labels=labels)
        out = mine(x, attention_mask=mask, labels=labels)
        theirs_nomask = ref(x[:2], labels=labels[:2])
        out_nomask = mine(x[:2], labels=labels[:2])
    compare_outputs(out, theirs, ["logits", "embeddings", "loss"])
    compare_outputs(out_nomask, theirs_nomask, ["logits", "embeddings", "loss"])


@pytest.mark.parametrize("position", ["relative", "rotary", None])
def test_pretraining_loss_with_given_masks_and_negatives(position, tmp_path):
    ref = build_reference("Wav2Vec2ConformerForPreTraining", position_embeddings_type=position)
    mine = reference_to_ours(ref, w.Wav2Vec2ConformerForPreTraining, tmp_path)
    x, mask = batch()
    frames = mine.feat_extract_output_lengths(x.shape[1])
    frame_mask = mine.feature_vector_mask(frames, mask)
    rng = np.random.default_rng(0)
    mti = w.compute_mask_indices((3, frames), 0.4, 2, frame_mask, min_masks=2, generator=rng)
    neg = w.sample_negative_indices((3, frames), 5, mti, generator=rng)
    mti, neg = torch.from_numpy(mti), torch.from_numpy(neg)
    with torch.no_grad():
        theirs = ref(
            x,
            attention_mask=mask,
            mask_time_indices=mti,
            sampled_negative_indices=neg,
            output_hidden_states=True,
        )
        out = mine(
            x,
            attention_mask=mask,
            mask_time_indices=mti,
            sampled_negative_indices=neg,
            output_hidden_states=True,
        )
    fields = [
        "loss",
        "contrastive_loss",
        "diversity_loss",
        "codevector_perplexity",
        "projected_states",
        "projected_quantized_states",
        "hidden_states",
    ]
    compare_outputs(out, theirs, fields)
    assert torch.isfinite(out.loss)


def test_ours_loads_in_reference(tmp_path):
    """The other direction: what our save_pretrained writes loads in the reference with no
    missing or unexpected keys, and gives identical outputs."""
    import transformers

    for name in [
        "Wav2Vec2ConformerForCTC",
        "Wav2Vec2ConformerForPreTraining",
        "Wav2Vec2ConformerForXVector",
    ]:
        cfg = w.Wav2Vec2ConformerConfig(**__import__("reference").TINY)
        torch.manual_seed(0)
        mine = getattr(w, name)(cfg).eval()
        path = tmp_path / name
        mine.save_pretrained(path)
        theirs, info = getattr(transformers, name).from_pretrained(path, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], info
        assert not info["mismatched_keys"], info
        theirs.eval()
        x, mask = batch()
        with torch.no_grad():
            a, b = mine(x, attention_mask=mask), theirs(x, attention_mask=mask)
        field = "projected_states" if "PreTraining" in name else "logits"
        assert_close(getattr(a, field), getattr(b, field), f"{name}.{field}")
