"""CTC decoding on hand-made log-probs with known answers: greedy, beam search, LM, hotwords."""

import gzip
import itertools
import json
import math
import sys

import numpy as np
import pytest

from wav2vec2_conformer.beam_search import beam_search_decode
from wav2vec2_conformer.decoding import (
    CTCVocab,
    DecodeResult,
    WordTiming,
    align,
    greedy_decode,
)
from wav2vec2_conformer.lm import NGramLM, load_lm
from wav2vec2_conformer.ngram import ArpaLM

try:
    import kenlm  # noqa: F401

    HAVE_KENLM = True
except ImportError:
    HAVE_KENLM = False
needs_kenlm = pytest.mark.skipif(not HAVE_KENLM, reason="kenlm not installed (pip install kenlm)")

# the layout of the reference's English vocab.json: <pad> is the blank, | the word delimiter
TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R"]
TOKENS += ["D", "L", "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q"]
TOKENS += ["Z"]
VOCAB = CTCVocab.from_tokens(TOKENS)
ID = {t: i for i, t in enumerate(TOKENS)}


def peaky(frames: str, peak: float = 8.0) -> np.ndarray:
    """[frame, vocab] logits, one confident token per frame: `_` blank, `|` delimiter,
    `^` <s>, otherwise a letter."""
    names = {"_": "<pad>", "^": "<s>"}
    ids = [ID[names.get(c, c)] for c in frames]
    logits = np.zeros((len(ids), len(TOKENS)))
    logits[np.arange(len(ids)), ids] = peak
    return logits


def probs(*frames: dict[str, float]) -> np.ndarray:
    """[frame, vocab] log-probs from {token: probability}; the rest of the mass is spread out."""
    out = np.empty((len(frames), len(TOKENS)))
    for t, frame in enumerate(frames):
        rest = (1.0 - sum(frame.values())) / (len(TOKENS) - len(frame))
        out[t] = math.log(rest)
        for tok, p in frame.items():
            out[t, ID[tok]] = math.log(p)
    return out


def words(result: DecodeResult) -> list[tuple[str, int, int]]:
    return [(w.word, w.start_frame, w.end_frame) for w in result.words]


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


# ---------------------------------------------------------------- language model and hotwords


def write_arpa(path, unigrams: dict[str, tuple[float, float]], bigrams: dict[str, float]):
    """A tiny ARPA file: unigrams word -> (log10 p, log10 backoff), bigrams "w1 w2" -> log10 p."""
    lines = ["\\data\\", f"ngram 1={len(unigrams)}", f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    lines += [f"{p}\t{w}\t{bo}" for w, (p, bo) in unigrams.items()]
    lines += ["", "\\2-grams:"] + [f"{p}\t{ws}" for ws, p in bigrams.items()] + ["", "\\end\\"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(params=["kenlm", "python"])
def make_lm(request):
    """Both n-gram implementations: KenLM's `NGramLM` and the pure-Python `ArpaLM`."""
    if request.param == "kenlm":
        if not HAVE_KENLM:
            pytest.skip("kenlm not installed (pip install kenlm)")
        return NGramLM
    return ArpaLM


@pytest.fixture
def arpa(tmp_path):
    # as single words KAT is likelier than CAT; after THE, CAT is much likelier
    unigrams = {
        "<unk>": (-3.0, 0.0), "<s>": (-99.0, 0.0), "</s>": (-1.0, 0.0), "THE": (-1.0, -0.5),
        "CAT": (-1.5, 0.0), "KAT": (-1.0, 0.0), "A": (-1.0, 0.0), "B": (-1.0, 0.0),
        "AB": (-1.0, 0.0),
    }  # fmt: skip
    return write_arpa(tmp_path / "tiny.arpa", unigrams, {"THE CAT": -0.2})


# the first letter is a near tie: K is a little more likely than C
CAT_OR_KAT = [{"K": 0.5, "C": 0.45}, {"A": 0.9}, {"<pad>": 0.9}, {"T": 0.9}]
THE = [{"T": 0.9}, {"H": 0.9}, {"E": 0.9}, {"|": 0.9}]


def test_lm_decides_between_acoustically_close_words(make_lm, arpa):
    alone, after_the = probs(*CAT_OR_KAT), probs(*THE, *CAT_OR_KAT)
    assert beam_search_decode(alone, VOCAB).text == "KAT"
    assert beam_search_decode(after_the, VOCAB).text == "THE KAT"
    lm = make_lm(arpa)
    # unigram: KAT is the likelier word too; bigram: THE CAT wins over THE KAT
    assert beam_search_decode(alone, VOCAB, lm=lm).text == "KAT"
    result = beam_search_decode(after_the, VOCAB, lm=lm, timestamps=True)
    assert result.text == "THE CAT"
    assert words(result) == [("THE", 0, 3), ("CAT", 4, 8)]
    # alpha scales the LM: with no weight the acoustics decide again
    assert beam_search_decode(after_the, VOCAB, lm=lm, alpha=0.0).text == "THE KAT"
    # a path works as well as a loaded model
    assert beam_search_decode(after_the, VOCAB, lm=str(arpa)).text == "THE CAT"


def test_beta_is_a_word_insertion_bonus(make_lm, arpa):
    # a word break between A and B is less likely than not (0.4 vs 0.6)
    lp = probs({"A": 0.9}, {"|": 0.4, "<pad>": 0.55}, {"B": 0.9})
    assert beam_search_decode(lp, VOCAB).text == "AB"
    lm = make_lm(arpa)
    assert beam_search_decode(lp, VOCAB, lm=lm, alpha=0.1, beta=0.0).text == "AB"
    assert beam_search_decode(lp, VOCAB, lm=lm, alpha=0.1, beta=3.0).text == "A B"


def test_lm_score_is_alpha_times_ln_prob_plus_beta(make_lm, arpa):
    lp = peaky("THE|CAT", peak=30.0)
    acoustic = greedy_decode(lp, VOCAB).score
    result = beam_search_decode(lp, VOCAB, lm=make_lm(arpa), alpha=0.7, beta=0.3)
    log10_p = -1.0 + -0.2 + -1.0  # P(THE|<s>) (by backoff) + P(CAT|THE) + P(</s>|CAT)
    assert result.score == pytest.approx(acoustic + 0.7 * math.log(10) * log10_p + 2 * 0.3)


@needs_kenlm
def test_lm_reads_its_vocabulary(arpa, tmp_path):
    lm = NGramLM(arpa)
    assert lm.order == 2
    assert lm.unigrams == ["A", "AB", "B", "CAT", "KAT", "THE"]
    assert lm.is_prefix("CA") and lm.is_prefix("A") and not lm.is_prefix("QA")
    assert "CAT" in lm and "CAX" not in lm
    gz = tmp_path / "tiny.arpa.gz"
    gz.write_bytes(gzip.compress(arpa.read_bytes()))
    assert NGramLM(gz).unigrams == lm.unigrams
    assert NGramLM(arpa, unigrams=["CAT"]).unigrams == ["CAT"]


def test_unknown_words_pay_unk_offset(make_lm, arpa):
    lm = make_lm(arpa)
    # the last letter is a near tie between X (CAX, unknown to the LM) and T (CAT)
    lp = probs({"C": 0.9}, {"A": 0.9}, {"X": 0.5, "T": 0.45})
    assert beam_search_decode(lp, VOCAB).text == "CAX"
    # alpha=0 silences the LM's probabilities, leaving the unknown-word offset
    assert beam_search_decode(lp, VOCAB, lm=lm, alpha=0.0, unk_offset=0.0).text == "CAX"
    assert beam_search_decode(lp, VOCAB, lm=lm, alpha=0.0).text == "CAT"
    plain = beam_search_decode(peaky("CAX", peak=30.0), VOCAB).score
    result = beam_search_decode(peaky("CAX", peak=30.0), VOCAB, lm=lm, alpha=0.0, beta=0.0)
    assert result.score == pytest.approx(plain - 10.0)  # the default offset, once
    lp = peaky("CAXCAXCAX", peak=30.0)
    plain = beam_search_decode(lp, VOCAB).score
    result = beam_search_decode(lp, VOCAB, lm=lm, alpha=0.0, beta=0.0)
    assert result.score == pytest.approx(plain - 10.0 * 9 / 6)  # longer than 6: more


def test_partial_words_that_begin_no_known_word_are_penalised_early(make_lm, arpa):
    lm = make_lm(arpa)
    lp = probs({"Q": 0.5, "C": 0.45}, {"A": 0.9}, {"<pad>": 0.9}, {"T": 0.9})
    assert beam_search_decode(lp, VOCAB, beam_size=1).text == "QAT"
    # Q starts no word of the LM: with one beam, only an early penalty can save CAT
    assert beam_search_decode(lp, VOCAB, lm=lm, beam_size=1, alpha=0.0).text == "CAT"
    lm.unigrams = None  # as for a binary model given no unigrams: only finished words count
    assert beam_search_decode(lp, VOCAB, lm=lm, beam_size=1, alpha=0.0).text == "QAT"


def test_lm_without_kenlm_reads_arpa_in_python_and_says_how_to_install(monkeypatch, tmp_path, arpa):
    monkeypatch.setitem(sys.modules, "kenlm", None)  # import kenlm now raises ImportError
    assert isinstance(load_lm(arpa), ArpaLM)
    assert beam_search_decode(probs(*THE, *CAT_OR_KAT), VOCAB, lm=arpa).text == "THE CAT"
    with pytest.raises(ImportError, match="pip install kenlm"):
        NGramLM(arpa)
    binary = tmp_path / "lm.bin"
    binary.write_bytes(b"mmap lm http://kheafield.com/code format version 5\0")
    with pytest.raises(ImportError, match="pip install kenlm"):
        beam_search_decode(peaky("A"), VOCAB, lm=binary)
    with pytest.raises(FileNotFoundError, match="missing.arpa"):
        beam_search_decode(peaky("A"), VOCAB, lm=tmp_path / "missing.arpa")
    # without an LM the beam search needs no kenlm
    assert beam_search_decode(peaky("A"), VOCAB).text == "A"


@needs_kenlm
def test_lm_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.arpa"):
        NGramLM(tmp_path / "missing.arpa")
    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("not a language model\n")
    with pytest.raises(ValueError, match="garbage.arpa"):
        NGramLM(garbage)


def test_hotword_boosts_a_word():
    lp = probs(*CAT_OR_KAT)
    assert beam_search_decode(lp, VOCAB).text == "KAT"
    assert beam_search_decode(lp, VOCAB, hotwords=["CAT"]).text == "CAT"
    assert beam_search_decode(lp, VOCAB, hotwords=["CAT"], hotword_weight=0.0).text == "KAT"
    # phrases are split into words
    assert beam_search_decode(lp, VOCAB, hotwords=["THE CAT"]).text == "CAT"
    # the bonus of a finished hotword is its weight
    lp = peaky("CAT", peak=30.0)
    plain = beam_search_decode(lp, VOCAB).score
    assert beam_search_decode(lp, VOCAB, hotwords=["CAT"], hotword_weight=2.5).score == (
        pytest.approx(plain + 2.5)
    )


def test_hotword_prefix_credit_keeps_the_beam_alive_and_is_taken_back():
    lp = probs(*CAT_OR_KAT)
    # with one beam, C must win at the first frame already: only prefix credit can do that
    assert beam_search_decode(lp, VOCAB, beam_size=1).text == "KAT"
    assert beam_search_decode(lp, VOCAB, beam_size=1, hotwords=["CAT"]).text == "CAT"
    # CA... starts CART, but CAT leaves it: the credit goes and the acoustics decide
    assert beam_search_decode(lp, VOCAB, beam_size=8, hotwords=["CART"]).text == "KAT"


def test_hotwords_must_be_spellable():
    with pytest.raises(ValueError, match="hotword 'cat' cannot be spelled"):
        beam_search_decode(peaky("A"), VOCAB, hotwords=["cat"])
    with pytest.raises(ValueError, match="list of words"):
        beam_search_decode(peaky("A"), VOCAB, hotwords="CAT")
    multi = CTCVocab(("_", "|", "ab", "c"), blank_id=0)  # multi-character tokens
    assert beam_search_decode(np.zeros((2, 4)), multi, hotwords=["abcab"]).text is not None
    with pytest.raises(ValueError, match="'ac'"):
        beam_search_decode(np.zeros((2, 4)), multi, hotwords=["ac"])


def test_hotwords_and_lm_together(make_lm, arpa):
    lp = probs(*THE, *CAT_OR_KAT)
    lm = make_lm(arpa)
    assert beam_search_decode(lp, VOCAB, lm=lm).text == "THE CAT"
    assert beam_search_decode(lp, VOCAB, lm=lm, hotwords=["KAT"]).text == "THE KAT"
