"""Sentences for the corpus: text normalisation, the stable dev split, the real texts."""

from __future__ import annotations

import pytest

from wav2vec2_conformer import sentences
from wav2vec2_conformer.sentences import Sentence, clean_sentence

HAVE_TEXTS = not sentences.missing_texts()


# ---- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, text",
    [
        ("The cars raced down the street", "the cars raced down the street"),
        ("the kidnaper's letter was convincing.", "the kidnaper's letter was convincing"),
        ("a self-induced  sleep, they said; sadly", "a self induced sleep they said sadly"),
        ("I threw out the remains of my dinner", "i threw out the remains of my dinner"),
        ("a clash of doctrine -- an opportunity!", "a clash of doctrine an opportunity"),
    ],
)
def test_clean_sentence_keeps_and_normalises(raw: str, text: str) -> None:
    s = clean_sentence(raw)
    assert s is not None and s.text == text
    assert set(s.text) <= set("abcdefghijklmnopqrstuvwxyz' ")


@pytest.mark.parametrize(
    "raw",
    [
        "he had more than 100 rbi last season",  # digits
        "she left a wake-up call for 7 a.m.",  # digits, abbreviation
        "Mr. Smith went to Washington",  # period inside: abbreviation
        "the gutsy...intensity of her music",  # ellipsis
        "the NATO forces were deployed",  # acronym
        "he took vitamin C every day",  # lone letter, read as its name
        "the price rose by 5% today",  # symbol
        "`Never mind your soul,' she said",  # quotes
        "the subjects' set led them astray",  # apostrophe outside a word
        "a café on the corner of the street",  # not in a-z
        "hmm that was a strange thing",  # no vowel: engines spell it out
        "he met dr Jones at the club",  # abbreviation without its period
        "furrowed fields",  # fewer than min_words
        "a (small) house by the sea",  # brackets
    ],
)
def test_clean_sentence_drops_what_engines_read_differently(raw: str) -> None:
    assert clean_sentence(raw) is None


def test_unique_sentences_dedupes_and_sorts() -> None:
    got = sentences.unique_sentences(["The dog barked loudly.", "the dog barked loudly", "a b c d"])
    assert [s.text for s in got] == ["the dog barked loudly"]
    got = sentences.unique_sentences(["the cat sat", "a dog ran off"])
    assert [s.text for s in got] == ["a dog ran off", "the cat sat"]


def test_dev_sentence_split_is_stable_and_near_share() -> None:
    sents = [Sentence(f"sentence number {i} here", "") for i in range(4000)]
    dev = [s for s in sents if sentences.is_dev_sentence(s, 0.05)]
    assert 0.03 < len(dev) / len(sents) < 0.07
    assert dev == [s for s in sents if sentences.is_dev_sentence(s, 0.05)]


@pytest.mark.skipif(not HAVE_TEXTS, reason="wordnet-base or fortunes is not installed")
def test_real_texts_split_cleanly() -> None:
    train, dev, ev = (
        set(s.text for s in sentences.split_sentences(k)) for k in ("train", "dev", "eval")
    )
    assert len(train) > 20_000 and len(dev) > 1_000 and len(ev) > 5_000
    assert not train & dev and not train & ev and not dev & ev


@pytest.mark.skipif(not HAVE_TEXTS, reason="wordnet-base or fortunes is not installed")
def test_lm_sentences_are_the_train_side_sentences() -> None:
    lm = sentences.lm_sentences()
    assert lm == [s.text for s in sentences.split_sentences("train")]
    dev_share = sentences.lm_sentences(dev_share=0.5)
    assert 0.4 < len(dev_share) / len(lm) < 0.6  # a larger dev share leaves less for train


def test_missing_texts_names_the_packages(tmp_path) -> None:
    assert sentences.missing_texts(str(tmp_path), str(tmp_path / "none")) == [
        "wordnet-base",
        "fortunes",
    ]
    (tmp_path / "data.noun").write_text("")
    assert sentences.missing_texts(str(tmp_path), str(tmp_path)) == []
