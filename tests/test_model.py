"""Model behaviour beyond parity: config validation, bad input, training-mode statistics,
every config field doing what it claims, freezing and gradient checkpointing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from reference import TINY, assert_close, batch

import wav2vec2_conformer as w


def tiny(**kw):
    return w.Wav2Vec2ConformerConfig(**{**TINY, **kw})


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "bad, pattern",
    [
        (dict(conv_dim=[8, 8], conv_stride=[5, 2, 2]), "same length"),
        (dict(hidden_size=15), "divisible by num_attention_heads"),
        (dict(position_embeddings_type="absolute"), "position_embeddings_type"),
        (dict(hidden_act="mish"), "hidden_act"),
        (dict(feat_extract_norm="batch"), "feat_extract_norm"),
        (dict(conv_depthwise_kernel_size=4), "odd"),
        (dict(codevector_dim=9), "divisible by num_codevector_groups"),
        (dict(tdnn_dim=[8, 8]), "tdnn"),
        (dict(layerdrop=1.5), "layerdrop"),
    ],
)
def test_invalid_config_raises_clear_error(bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        tiny(**bad)


def test_config_defaults_match_reference():
    from transformers import Wav2Vec2ConformerConfig as Ref

    ref, mine = Ref().to_dict(), w.Wav2Vec2ConformerConfig().to_dict()
    own_fields = set(Ref.__annotations__) | {"id2label", "label2id", "num_labels", "problem_type"}
    assert len(own_fields) > 60
    for key, value in ref.items():
        if key not in own_fields:
            continue
        if isinstance(value, tuple):
            value = list(value)
        assert key in mine, f"missing config field {key}"
        if key == "id2label":
            value = {str(k): v for k, v in value.items()}
        assert mine[key] == value, f"{key}: ours {mine[key]!r} vs reference {value!r}"


def test_derived_lengths():
    c = w.Wav2Vec2ConformerConfig()
    assert c.inputs_to_logits_ratio == 320 and c.receptive_field == 400
    m = w.Wav2Vec2ConformerModel(tiny())
    r = m.config.receptive_field
    assert m.feat_extract_output_lengths(r) == 1 and m.feat_extract_output_lengths(r - 1) == 0
    assert m.feat_extract_output_lengths(torch.tensor([16000])).item() == (
        m.feature_extractor.output_length(16000)
    )


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def ctc():
    torch.manual_seed(0)
    return w.Wav2Vec2ConformerForCTC(tiny()).eval()


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: torch.randn(2000), r"shape \(batch, samples\)"),
        (lambda: torch.randn(1, 1, 2000), r"shape \(batch, samples\)"),
        (lambda: torch.randint(0, 5, (1, 2000)), "float tensor"),
        (lambda: torch.randn(1, 30), "receptive field"),
        (lambda: np.zeros((1, 2000), dtype=np.float32), "torch.Tensor"),
    ],
)
def test_bad_input_values(ctc, make, pattern):
    with pytest.raises(ValueError, match=pattern):
        ctc(make())


def test_bad_attention_mask_and_labels(ctc):
    x = torch.randn(2, 2000)
    with pytest.raises(ValueError, match="attention_mask shape"):
        ctc(x, attention_mask=torch.ones(2, 1999, dtype=torch.long))
    mask = torch.ones(2, 2000, dtype=torch.long)
    mask[1, 10:] = 0
    with pytest.raises(ValueError, match=r"batch item\(s\) \[1\]"):
        ctc(x, attention_mask=mask)
    with pytest.raises(ValueError, match="labels must be in"):
        ctc(x, labels=torch.tensor([[1, 12], [2, -100]]))
    with pytest.raises(ValueError, match="labels must be in"):
        ctc(x, labels=torch.tensor([[1, -5], [2, -100]]))


def test_classification_heads_reject_adapter():
    with pytest.raises(ValueError, match="add_adapter"):
        w.Wav2Vec2ConformerForSequenceClassification(tiny(add_adapter=True))


def test_ctc_needs_vocab_size():
    with pytest.raises(ValueError, match="vocab_size"):
        w.Wav2Vec2ConformerForCTC(tiny(vocab_size=None))


# ----------------------------------------------------------------------------- masking
def test_compute_mask_indices_statistics():
    rng = np.random.default_rng(0)
    shape, prob, span = (64, 500), 0.3, 10
    mask = w.compute_mask_indices(shape, prob, span, generator=rng)
    # spans overlap, so the share is below prob; with independent uniform starts the expected
    # share is 1 - (1 - span/T)^(n_spans) ~ 0.26 here
    n_spans = prob * shape[1] / span
    expected = 1 - (1 - span / shape[1]) ** n_spans
    assert abs(mask.mean() - expected) < 0.02
    # every run of masked frames is at least one span long
    for row in mask[:8]:
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
        assert runs.min() >= span


def test_compute_mask_indices_respects_padding_and_min_masks():
    rng = np.random.default_rng(1)
    att = np.zeros((3, 100), dtype=int)
    att[0, :100], att[1, :40], att[2, :12] = 1, 1, 1
    mask = w.compute_mask_indices((3, 100), 0.05, 5, attention_mask=att, min_masks=2, generator=rng)
    assert not mask[1, 40:].any() and not mask[2, 12:].any()
    assert mask[0].sum() >= 5 and mask[1].sum() >= 5  # at least 2 (maybe overlapping) spans
    again = w.compute_mask_indices(
        (3, 100), 0.05, 5, attention_mask=att, min_masks=2, generator=np.random.default_rng(1)
    )
    assert np.array_equal(mask, again)
    with pytest.raises(ValueError):
        w.compute_mask_indices((1, 4), 0.5, 5)


def test_sample_negative_indices():
    rng = np.random.default_rng(0)
    b, t, k = 3, 50, 7
    mask = w.compute_mask_indices((b, t), 0.5, 3, min_masks=2, generator=rng)
    neg = w.sample_negative_indices((b, t), k, mask, generator=rng)
    assert neg.shape == (b, t, k) and neg.dtype == np.int32
    for i in range(b):
        for j in np.flatnonzero(mask[i]):
            idx = neg[i, j] - i * t
            assert (idx != j).all(), "a negative equals its own positive frame"
            assert mask[i, idx].all(), "a negative outside the masked frames"


# ----------------------------------------------------------------------------- training mode
def test_spec_augment_masks_frames_in_training_only():
    torch.manual_seed(0)
    m = w.Wav2Vec2ConformerModel(tiny(mask_time_prob=0.5, mask_time_length=2, layerdrop=0.0))
    x = torch.randn(4, 8000)
    with torch.no_grad():
        proj, _ = m.feature_projection(m.feature_extractor(x))
        m.train()
        masked = m.mask_hidden_states(proj)
        m.eval()
        assert torch.equal(m.mask_hidden_states(proj), proj)
    hit = (masked == m.masked_spec_embed).all(-1)  # (B, T) frames replaced by the embedding
    assert 0.25 < hit.float().mean() < 0.5


def test_feature_masking_zeroes_channels():
    torch.manual_seed(0)
    m = w.Wav2Vec2ConformerModel(
        tiny(mask_time_prob=0.0, mask_feature_prob=0.5, mask_feature_length=2)
    ).train()
    h = torch.randn(2, 30, 16) + 5
    out = m.mask_hidden_states(h)
    zero_channels = (out == 0).all(dim=1)  # (B, C)
    assert zero_channels.any() and torch.equal(out[~(out == 0)], h[~(out == 0)])


def test_layerdrop_skips_layers_at_its_rate():
    torch.manual_seed(0)
    m = w.Wav2Vec2ConformerModel(tiny(layerdrop=0.5, num_hidden_layers=4, mask_time_prob=0.0))
    calls = []
    for layer in m.encoder.layers:
        layer.register_forward_hook(lambda *a: calls.append(1))
    m.train()
    x = torch.randn(1, 1000)
    runs = 100
    with torch.no_grad():
        for _ in range(runs):
            m(x)
    share = len(calls) / (runs * 4)
    assert 0.4 < share < 0.6, share
    calls.clear()
    m.eval()
    with torch.no_grad():
        m(x)
    assert len(calls) == 4


DROPOUT_FIELDS = [
    "hidden_dropout",
    "activation_dropout",
    "attention_dropout",
    "feat_proj_dropout",
    "conformer_conv_dropout",
    "final_dropout",
]


@pytest.mark.parametrize("field", DROPOUT_FIELDS)
def test_each_dropout_field_is_used(field):
    """Each dropout field, alone non-zero, changes training-mode outputs."""
    base = {f: 0.0 for f in DROPOUT_FIELDS} | dict(layerdrop=0.0, mask_time_prob=0.0)
    x = torch.randn(2, 3000)
    outs = []
    for value in (0.0, 0.5):
        torch.manual_seed(0)
        m = w.Wav2Vec2ConformerForCTC(tiny(**(base | {field: value}))).train()
        torch.manual_seed(1)
        outs.append(m(x).logits)
    assert not torch.allclose(outs[0], outs[1])


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    m = w.Wav2Vec2ConformerForCTC(tiny(layerdrop=0.0, mask_time_prob=0.0)).train()
    x, mask = batch()
    labels = torch.tensor([[3, 4], [5, -100], [6, 7]])
    torch.manual_seed(1)  # same dropout draws in both runs (checkpoint replays the RNG state)
    m(x, attention_mask=mask, labels=labels).loss.backward()
    grads = [p.grad for p in m.parameters()]
    m.zero_grad()
    m.gradient_checkpointing_enable()
    torch.manual_seed(1)
    m(x, attention_mask=mask, labels=labels).loss.backward()
    for g, p in zip(grads, m.parameters(), strict=True):
        if g is None:  # unused parameters (positional conv, mask embedding)
            assert p.grad is None
            continue
        assert_close(p.grad, g, "grad", atol=1e-5, rtol=1e-5)


def test_freeze_feature_encoder_and_base_model():
    torch.manual_seed(0)
    m = w.Wav2Vec2ConformerForSequenceClassification(tiny())
    m.freeze_feature_encoder()
    assert not any(p.requires_grad for p in m.wav2vec2_conformer.feature_extractor.parameters())
    assert all(p.requires_grad for p in m.wav2vec2_conformer.encoder.parameters())
    m.freeze_base_model()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {
        "projector.weight",
        "projector.bias",
        "classifier.weight",
        "classifier.bias",
    }


def test_sequence_classification_problem_types():
    torch.manual_seed(0)
    x = torch.randn(2, 3000)
    reg = w.Wav2Vec2ConformerForSequenceClassification(tiny(num_labels=1)).eval()
    assert reg(x, labels=torch.tensor([0.5, -1.0])).loss > 0
    multi = w.Wav2Vec2ConformerForSequenceClassification(tiny(num_labels=3)).eval()
    out = multi(x, labels=torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        out.logits, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    )
    assert_close(out.loss, expected, "multi-label loss")


def test_padding_changes_only_frames_near_the_end():
    """Known reference behaviour: padded frames are zeroed once at the encoder input, so an
    utterance's last frames depend on how much padding follows it (the depthwise conv sees
    padded frames). Frames away from the end are unaffected. ("group" feature norm models
    normalise over the whole padded signal, so there every frame changes: batch those by
    similar length.)"""
    torch.manual_seed(0)
    cfg = tiny(conv_depthwise_kernel_size=3, num_hidden_layers=1, feat_extract_norm="layer")
    m = w.Wav2Vec2ConformerModel(cfg).eval()
    x, mask = batch((4000, 2000))
    with torch.no_grad():
        alone = m(x[1:, :2000]).last_hidden_state
        padded = m(x, attention_mask=mask).last_hidden_state[1:, : alone.shape[1]]
    assert_close(padded[:, :-2], alone[:, :-2], "frames away from the padding")


@pytest.mark.parametrize("position", ["rotary", "relative"])
def test_masking_padding_in_convs_makes_padded_frames_equal_alone(position, tmp_path):
    """`mask_padding_in_convs` (our extension): padded frames zeroed before every depthwise conv
    as well, so each utterance of a mixed-length batch gives its frames alone, to the last one
    (with the reference behaviour, above, the last frames differ)."""
    torch.manual_seed(0)
    cfg = tiny(conv_depthwise_kernel_size=5, feat_extract_norm="layer",
               position_embeddings_type=position)  # fmt: skip
    m = w.Wav2Vec2ConformerForCTC(cfg).eval()
    x, mask = batch((4000, 2000))
    with torch.no_grad():
        alone = m(x[1:, :2000]).logits
        leaky = m(x, attention_mask=mask).logits[1:, : alone.shape[1]]
        m.mask_padding_in_convs()
        exact = m(x, attention_mask=mask).logits[1:, : alone.shape[1]]
        full = m(x[:1], attention_mask=mask[:1]).logits
        m.mask_padding_in_convs(False)
        again = m(x, attention_mask=mask).logits[1:, : alone.shape[1]]
        m.mask_padding_in_convs()
        m.save_pretrained(tmp_path)  # the setting is kept in config.json
        loaded = w.Wav2Vec2ConformerForCTC.from_pretrained(tmp_path).eval()
        reloaded = loaded(x, attention_mask=mask).logits[1:, : alone.shape[1]]
    assert (leaky[:, -1] - alone[:, -1]).abs().max() > 1e-3
    assert_close(exact, alone, "every frame of the padded utterance")
    assert_close(full, m(x[:1], attention_mask=mask[:1]).logits, "unpadded input unchanged")
    assert torch.equal(again, leaky)
    assert not w.Wav2Vec2ConformerForCTC(tiny()).base.encoder.mask_conv_padding  # default
    assert json.loads((tmp_path / "config.json").read_text())["mask_conv_padding"] is True
    assert_close(reloaded, alone, "the loaded model masks as the saved one did")
