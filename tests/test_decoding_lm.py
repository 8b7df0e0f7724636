"""CTC beam search with an n-gram language model and hotwords, on hand-made log-probs."""

import gc
import gzip
import math
import sys
import weakref

import numpy as np
import pytest
from ctc_frames import HAVE_KENLM, NO_KENLM, VOCAB, peaky, probs, words

from wav2vec2_conformer.beam_search import _NEXT_CHARS, _next_chars, beam_search_decode
from wav2vec2_conformer.decoding import (
    CTCVocab,
    greedy_decode,
)
from wav2vec2_conformer.lm import NGramLM, load_lm
from wav2vec2_conformer.ngram import ArpaLM

needs_kenlm = pytest.mark.skipif(not HAVE_KENLM, reason=NO_KENLM)


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
            pytest.skip(NO_KENLM)
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


def test_next_letters_of_a_partial_word_come_from_the_lms_words_and_live_with_it(make_lm, arpa):
    lm = make_lm(arpa)
    for partial in ["", "T", "TH", "THE", "C", "A", "Q", "KA"]:
        want = {w[len(partial)] for w in lm.unigrams if w.startswith(partial) and w != partial}
        assert _next_chars(lm, partial) == "".join(sorted(want))
        assert all(lm.is_prefix(partial + c) for c in want)
    assert lm in _NEXT_CHARS  # remembered for the next call with this LM...
    ref, size = weakref.ref(lm), len(_NEXT_CHARS)
    del lm
    gc.collect()
    assert ref() is None and len(_NEXT_CHARS) == size - 1  # ...and no longer than the LM


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


def test_token_min_logp_decides_which_tokens_may_start_a_prefix():
    # C is 0.3% likely (ln -5.8): below the default threshold (-5) no context can reach it
    lp = probs({"K": 0.99, "C": 0.003}, {"A": 0.99}, {"T": 0.99})
    assert beam_search_decode(lp, VOCAB, hotwords=["CAT"]).text == "KAT"
    assert beam_search_decode(lp, VOCAB, hotwords=["CAT"], token_min_logp=-8).text == "CAT"
    assert beam_search_decode(lp, VOCAB, hotwords=["CAT"], token_min_logp=None).text == "KAT"
