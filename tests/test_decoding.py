"""CTC decoding on hand-made log-probs with known answers: vocabulary, greedy, beam search
(the language model and hotwords: test_decoding_lm.py)."""

import itertools
import json
import math

import numpy as np
import pytest
from ctc_frames import ID, TOKENS, VOCAB, peaky, probs, words

from wav2vec2_conformer.beam_search import beam_search_decode
from wav2vec2_conformer.decoding import (
    CTCVocab,
    DecodeResult,
    WordTiming,
    adjust_frames,
    align,
    greedy_decode,
    shift_blank,
    soften,
)

# ---------------------------------------------------------------- vocabulary


def test_vocab_from_vocab_dict_finds_blank_delimiter_specials():
    vocab = CTCVocab.from_vocab_dict({t: i for i, t in enumerate(TOKENS)})
    assert vocab == VOCAB
    assert (vocab.blank_id, vocab.delimiter_id, len(vocab)) == (0, 4, 32)
    assert vocab.special_ids == {1, 2, 3}
    assert 0 not in vocab.letter_ids and 4 not in vocab.letter_ids and 5 in vocab.letter_ids
    # a tokenizer's special tokens may include the blank and the delimiter: they stay what they are
    assert CTCVocab.from_tokens(TOKENS, specials=["<pad>", "|", "<s>"]).special_ids == {1}
    # lists are accepted and frozen, so the vocabulary stays hashable
    assert hash(CTCVocab(["_", "a", "|"], 0, "|", [])) == hash(CTCVocab(("_", "a", "|"), 0, "|"))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CTCVocab.from_tokens(["<pad>", "a"]), "word delimiter '|'"),
        (lambda: CTCVocab.from_tokens(["a", "|"]), "blank token '<pad>'"),
        (lambda: CTCVocab.from_tokens(["<pad>", "a", "a", "|"]), "duplicate"),
        (lambda: CTCVocab.from_vocab_dict({"<pad>": 0, "|": 2}), "without gaps"),
        (lambda: CTCVocab(("<pad>", "|"), blank_id=5), "blank_id 5"),
        (lambda: CTCVocab(("<pad>", "|", "a"), special_ids={7}), "special ids [7]"),
        (lambda: CTCVocab(("<pad>", "|", "a"), special_ids={1}), "delimiter cannot"),
    ],
)
def test_vocab_rejects_inconsistent_descriptions(make, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make()


# ---------------------------------------------------------------- greedy


@pytest.mark.parametrize(
    "frames, text",
    [
        ("HHEL_LLO", "HELLO"),  # a blank separates the two L's
        ("HELLLO", "HELO"),  # without one they merge
        ("", ""),
        ("____", ""),
        ("||_|", ""),  # delimiters only
        ("|_|A_|_|B||", "A B"),  # runs of delimiters, leading and trailing
        ("A|B", "A B"),
        ("L^L", "LL"),  # a special token is dropped like a blank, after merging repeats
        ("LL^^LL", "LL"),
    ],
)
def test_greedy_text(frames, text):
    assert greedy_decode(peaky(frames), VOCAB).text == text


def test_shift_blank_moves_mass_between_the_blank_and_the_letters():
    # "H" then a frame where the blank narrowly beats "I", then "S"
    lp = probs({"H": 0.9}, {"<pad>": 0.45, "I": 0.40}, {"S": 0.9})
    assert greedy_decode(lp, VOCAB).text == "HS"
    assert shift_blank(lp, VOCAB.blank_id, 0.0) is lp  # no offset: untouched
    lower = shift_blank(lp, VOCAB.blank_id, -0.5)
    assert np.allclose(np.exp(lower).sum(axis=1), 1.0)  # frames stay distributions
    assert lower[1, VOCAB.blank_id] < lp[1, VOCAB.blank_id] and lower[1, ID["I"]] > lp[1, ID["I"]]
    assert np.allclose(lp, probs({"H": 0.9}, {"<pad>": 0.45, "I": 0.40}, {"S": 0.9}))  # a copy
    assert greedy_decode(lower, VOCAB).text == "HIS"
    assert greedy_decode(shift_blank(lp, VOCAB.blank_id, 0.5), VOCAB).text == "HS"
    with pytest.raises(ValueError, match="blank_offset must be a finite number"):
        shift_blank(lp, VOCAB.blank_id, float("nan"))


def test_soften_flattens_each_frame_and_keeps_its_best_token():
    lp = probs({"H": 0.9}, {"<pad>": 0.45, "I": 0.40}, {"S": 0.9})
    assert soften(lp, 1.0) is lp  # temperature 1: untouched
    warm = soften(lp, 2.0)
    assert np.allclose(np.exp(warm).sum(axis=1), 1.0)  # frames stay distributions
    assert (warm.argmax(axis=1) == lp.argmax(axis=1)).all()  # greedy text unchanged
    assert warm[0, ID["H"]] < lp[0, ID["H"]] and warm[0, ID["S"]] > lp[0, ID["S"]]
    # the ratio of two tokens' probabilities is raised to 1 / temperature
    gap = lp[1, VOCAB.blank_id] - lp[1, ID["I"]]
    assert math.isclose(warm[1, VOCAB.blank_id] - warm[1, ID["I"]], gap / 2, rel_tol=1e-5)
    assert np.allclose(soften(lp, 0.5), lp * 2 - np.logaddexp.reduce(lp * 2, 1, keepdims=True))
    assert np.allclose(lp, probs({"H": 0.9}, {"<pad>": 0.45, "I": 0.40}, {"S": 0.9}))  # a copy
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a positive finite number"):
            soften(lp, bad)


def test_adjust_frames_is_soften_then_shift_blank_normalised_once():
    lp = probs({"H": 0.9}, {"<pad>": 0.45, "I": 0.40}, {"S": 0.9})
    assert adjust_frames(lp, VOCAB.blank_id) is lp  # neither: untouched
    both = adjust_frames(lp, VOCAB.blank_id, temperature=1.25, blank_offset=-0.5)
    assert np.allclose(both, shift_blank(soften(lp, 1.25), VOCAB.blank_id, -0.5))
    assert np.allclose(np.exp(both).sum(axis=1), 1.0)
    assert np.allclose(lp, probs({"H": 0.9}, {"<pad>": 0.45, "I": 0.40}, {"S": 0.9}))  # a copy
    with pytest.raises(ValueError, match="temperature"):
        adjust_frames(lp, VOCAB.blank_id, temperature=0.0, blank_offset=-0.5)
    with pytest.raises(ValueError, match="blank_offset"):
        adjust_frames(lp, VOCAB.blank_id, temperature=2.0, blank_offset=float("inf"))


def test_greedy_timestamps_in_frames_and_seconds():
    #        0123456789012
    frames = "__HE_LLO||WO_"
    result = greedy_decode(peaky(frames), VOCAB, timestamps=True, seconds_per_frame=0.02)
    assert result.text == "HELO WO"
    assert result.words == [
        WordTiming("HELO", 2, 8, 0.04, 0.16),  # H at frame 2 .. O ends after frame 7
        WordTiming("WO", 10, 12, 0.2, 0.24),
    ]
    assert [(c.char, c.start_frame, c.end_frame) for c in result.chars] == [
        ("H", 2, 3), ("E", 3, 4), ("L", 5, 7), ("O", 7, 8), (" ", 8, 10), ("W", 10, 11),
        ("O", 11, 12),
    ]  # fmt: skip
    slow = greedy_decode(peaky(frames), VOCAB, timestamps=True, seconds_per_frame=0.04)
    assert slow.words[1].start_s == pytest.approx(0.4)
    assert slow.chars[0].end_s == pytest.approx(0.12)
    assert greedy_decode(peaky(frames), VOCAB).words is None  # only when asked for


def test_greedy_score_is_the_best_path_log_prob():
    lp = probs({"A": 0.6}, {"<pad>": 0.7})
    assert greedy_decode(lp, VOCAB).score == pytest.approx(math.log(0.6 * 0.7))
    # logits and log-probs decode the same
    assert greedy_decode(lp + 3.0, VOCAB).score == pytest.approx(math.log(0.6 * 0.7))


def test_greedy_empty_output_has_no_words():
    result = greedy_decode(peaky("_|_"), VOCAB, timestamps=True)
    assert (result.text, result.words) == ("", [])
    assert [c.char for c in result.chars] == [" "]  # the reference lists delimiters too


def test_greedy_batch_ignores_padding_frames():
    a, b = peaky("HI_I"), peaky("|WE|")
    batch = np.zeros((3, 6, len(TOKENS)))
    batch[0, :4], batch[1, :4] = a, b
    batch[0, 4:] = peaky("ZZ")  # padding that would change the text if it were read
    batch[1, 4:] = np.nan  # and padding that would be rejected
    results = greedy_decode(batch, VOCAB, lengths=[4, 4, 0], timestamps=True)
    assert [r.text for r in results] == ["HII", "WE", ""]
    assert results[0] == greedy_decode(a, VOCAB, timestamps=True)
    assert results[1] == greedy_decode(b, VOCAB, timestamps=True)


def test_greedy_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    logits = torch.tensor(peaky("HI|THERE"), dtype=torch.bfloat16, requires_grad=True)
    assert greedy_decode(logits, VOCAB).text == "HI THERE"
    batch = torch.stack([logits, logits])
    results = greedy_decode(batch, VOCAB, lengths=torch.tensor([8, 2]))
    assert [r.text for r in results] == ["HI THERE", "HI"]


def _hf_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    vocab_file = tmp_path / "vocab.json"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(TOKENS)}))
    return transformers.Wav2Vec2CTCTokenizer(str(vocab_file))


def test_greedy_offsets_match_the_reference_tokenizer(tmp_path):
    tokenizer = _hf_tokenizer(tmp_path)
    rng = np.random.default_rng(0)
    # blank, delimiter and a few letters, in runs, so repeats, runs of delimiters and
    # leading/trailing delimiters all occur
    alphabet = np.array([ID["<pad>"], ID["|"], ID["A"], ID["B"], ID["C"]])
    checked_double_delimiter = False
    for _ in range(200):
        runs = rng.integers(1, 4, size=rng.integers(0, 12))
        ids = np.repeat(rng.choice(alphabet, size=len(runs)), runs)
        logits = rng.normal(size=(len(ids), len(TOKENS)))
        logits[np.arange(len(ids)), ids] = 10.0
        ours = greedy_decode(logits, VOCAB, timestamps=True)
        ref = tokenizer.decode(ids.tolist(), output_word_offsets=True, output_char_offsets=True)
        assert words(ours) == [
            (w["word"], w["start_offset"], w["end_offset"]) for w in ref.word_offsets
        ]
        assert [(c.char, c.start_frame, c.end_frame) for c in ours.chars] == [
            (c["char"], c["start_offset"], c["end_offset"]) for c in ref.char_offsets
        ]
        assert ours.text == " ".join(ref.text.split())  # we also collapse runs of spaces
        checked_double_delimiter |= "  " in ref.text
    assert checked_double_delimiter


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros(len(TOKENS)), r"got \(32,\)"),
        (np.zeros((1, 1, 2, len(TOKENS))), r"got \(1, 1, 2, 32\)"),
        (np.zeros((4, 31)), "does not match the vocabulary size 32"),
        (np.full((4, 32), np.nan), "NaN"),
        (np.full((4, 32), np.inf), r"\+inf"),
        (np.full((4, 32), -np.inf), "all -inf"),
    ],
)
@pytest.mark.parametrize("decode", [greedy_decode, beam_search_decode])
def test_bad_log_probs_raise(decode, bad, match):
    with pytest.raises(ValueError, match=match):
        decode(bad, VOCAB)


@pytest.mark.parametrize(
    "shape, lengths, match",
    [
        ((4, 32), [4], "only for batched"),
        ((2, 4, 32), [4], "2 integers"),
        ((2, 4, 32), [4.0, 1.0], "2 integers"),
        ((2, 4, 32), [5, 1], r"in \[0, 4\]"),
        ((2, 4, 32), [-1, 1], r"in \[0, 4\]"),
    ],
)
@pytest.mark.parametrize("decode", [greedy_decode, beam_search_decode])
def test_bad_lengths_raise(decode, shape, lengths, match):
    with pytest.raises(ValueError, match=match):
        decode(np.zeros(shape), VOCAB, lengths)


def test_bad_options_raise():
    x = peaky("A")
    with pytest.raises(ValueError, match="seconds_per_frame"):
        greedy_decode(x, VOCAB, seconds_per_frame=0)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search_decode(x, VOCAB, beam_size=0)
    with pytest.raises(ValueError, match="must be <= 0"):
        beam_search_decode(x, VOCAB, beam_prune_logp=1.0)
    with pytest.raises(ValueError, match="pass lm="):
        beam_search_decode(x, VOCAB, alpha=0.5)


# ---------------------------------------------------------------- beam search


@pytest.mark.parametrize("frames", ["__HE_LLO||WO_RLD|", "HHEL_LLO", "|_|A_|_|B||", "", "L^L"])
@pytest.mark.parametrize("beam_size", [1, 32])
def test_beam_search_on_confident_frames_equals_greedy(frames, beam_size):
    x = peaky(frames, peak=6.0)
    greedy = greedy_decode(x, VOCAB, timestamps=True)
    beam = beam_search_decode(x, VOCAB, beam_size=beam_size, timestamps=True)
    assert beam.text == greedy.text
    assert beam.words == greedy.words  # timings of the best beam follow the greedy rules


def test_beam_search_sums_over_alignments_where_greedy_takes_one_path():
    # every frame's best token is the blank (greedy: ""), but the paths spelling "A" (AA, A_, _A)
    # together are more likely: about 0.38 * 0.33 + 0.38 * 0.4 + 0.4 * 0.33 = 0.41 > 0.4^2
    lp = probs({"<pad>": 0.4, "A": 0.38, "B": 0.2}, {"<pad>": 0.4, "A": 0.33, "B": 0.2})
    assert greedy_decode(lp, VOCAB).text == ""
    result = beam_search_decode(lp, VOCAB, beam_size=4, timestamps=True)
    assert result.text == "A"
    p = np.exp(lp)
    blank = p[:, [ID["<pad>"], ID["<s>"], ID["</s>"], ID["<unk>"]]].sum(-1)  # specials: blank
    a = p[:, ID["A"]]
    assert result.score == pytest.approx(math.log(a[0] * a[1] + a[0] * blank[1] + blank[0] * a[1]))
    assert words(result) == [("A", 0, 1)]  # its best single path: A_


def _text_probabilities(lp: np.ndarray, vocab: CTCVocab) -> dict[str, float]:
    """P(text) by brute force over all frame paths."""
    out: dict[str, float] = {}
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        text = greedy_decode(np.eye(lp.shape[1])[list(path)] * 50, vocab).text
        out[text] = out.get(text, 0.0) + math.exp(lp[np.arange(len(path)), path].sum())
    return out


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_search_finds_the_most_likely_text(seed):
    vocab = CTCVocab(("_", "|", "a", "b"), blank_id=0)
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(6, 4)) * 1.5
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    exact = _text_probabilities(lp, vocab)
    best = max(exact, key=exact.get)
    result = beam_search_decode(
        lp, vocab, beam_size=1000, beam_prune_logp=-np.inf, token_min_logp=-np.inf
    )
    assert result.text == best
    assert result.score == pytest.approx(math.log(exact[best]), rel=1e-9)


def test_beam_search_batch_with_lengths_equals_one_by_one():
    rng = np.random.default_rng(1)
    batch = rng.normal(size=(3, 20, len(TOKENS))) * 3
    lengths = [20, 13, 0]
    batch[1, 13:] = np.nan
    results = beam_search_decode(batch, VOCAB, lengths, beam_size=8, timestamps=True)
    for item, n, result in zip(batch, lengths, results, strict=True):
        assert result == beam_search_decode(item[:n], VOCAB, beam_size=8, timestamps=True)
    assert results[2] == DecodeResult("", 0.0, [], [])


def test_align_returns_the_best_path_for_the_labels():
    lp = probs({"A": 0.5, "<pad>": 0.4}, {"A": 0.3, "<pad>": 0.6}, {"B": 0.9})
    assert align(lp, [ID["A"], ID["B"]], 0).tolist() == [ID["A"], 0, ID["B"]]
    assert align(lp, [ID["A"], ID["A"]], 0).tolist() == [ID["A"], 0, ID["A"]]  # needs the blank
    assert align(lp, [], 0).tolist() == [0, 0, 0]
    # a long utterance: the best path of the greedy labels is the greedy path
    rng = np.random.default_rng(0)
    lp = rng.normal(size=(1000, len(TOKENS))) * 3
    path = lp.argmax(-1)
    labels = [tok for i, tok in enumerate(path) if tok != 0 and (i == 0 or path[i - 1] != tok)]
    assert len(labels) > 500
    assert align(lp, labels, 0).tolist() == path.tolist()


def test_vocab_without_word_delimiter():
    vocab = CTCVocab(("_", "a", "b"), blank_id=0, word_delimiter=None)
    x = np.log(np.eye(3)[[1, 0, 1, 2]] * 0.9 + 0.05)
    assert greedy_decode(x, vocab).text == "aab"
    assert beam_search_decode(x, vocab).text == "aab"
    with pytest.raises(ValueError, match="word delimiter"):
        beam_search_decode(x, vocab, hotwords=["a"])
