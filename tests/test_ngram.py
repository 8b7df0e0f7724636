"""Word n-gram LMs without KenLM: Kneser-Ney estimation, ARPA files, `w2vc lm`, and a model
folder's own language model used by default."""

from __future__ import annotations

import gzip
import json
import random
import sys

import numpy as np
import pytest
import soundfile as sf
from ctc_frames import HAVE_KENLM
from test_transcribe import SR, make_model_dir, speechlike

from wav2vec2_conformer.beam_search import beam_search_decode
from wav2vec2_conformer.cli import build_parser, main
from wav2vec2_conformer.commands import _setup
from wav2vec2_conformer.decoder import decoding_for
from wav2vec2_conformer.decoding import greedy_decode, shift_blank, soften
from wav2vec2_conformer.ngram import ArpaLM, estimate, read_arpa, score_gram, write_arpa
from wav2vec2_conformer.transcribe import load_pipeline, transcribe, transcribe_arrays

WORDS = "the a cat dog sat ran on under mat house big small red old".split()


RARE = [f"the {w} sat on a {w}" for w in "yak gnu emu owl".split()]  # n-grams seen once


def sentences(n=400, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 8))) for _ in range(n)]


@pytest.mark.parametrize("order", [2, 3, 4])
def test_every_context_is_a_probability_distribution(order):
    model = estimate(sentences(), order)
    vocab = [w for (w,) in model[1] if w != "<s>"]
    assert "<unk>" in vocab and "</s>" in vocab
    for context in [("<s>",), ("the",), ("cat", "sat"), ("<s>", "the", "big"), ("zebra",), ()]:
        total = sum(10 ** score_gram(model, (*context, w)) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), context
    assert score_gram(model, ("the", "zebra")) == score_gram(model, ("the", "<unk>"))


def test_a_word_list_extends_the_vocabulary_with_the_uniform_share():
    plain, wide = estimate(sentences(), 3), estimate(sentences(), 3, ["zebra", "yak"])
    vocab = [w for (w,) in wide[1] if w != "<s>"]
    assert {"zebra", "yak"} <= set(vocab)
    for context in [("<s>",), ("the", "cat"), ()]:
        total = sum(10 ** score_gram(wide, (*context, w)) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), context
    assert wide[1][("zebra",)][0] == wide[1][("<unk>",)][0] < plain[1][("<unk>",)][0]
    assert score_gram(wide, ("the", "zebra")) < score_gram(wide, ("the", "old"))


def test_kneser_ney_counts_contexts_not_occurrences():
    # "francisco" is frequent but follows only "san"; "cat" is rarer but follows many words
    text = ["san francisco"] * 50 + [f"{w} cat" for w in WORDS] + ["san diego", "a francisco"]
    model = estimate(text, order=2)
    assert model[1][("cat",)][0] > model[1][("francisco",)][0]
    assert score_gram(model, ("san", "francisco")) > score_gram(model, ("san", "cat"))


@pytest.mark.parametrize("prune", [0, 1])
def test_arpa_round_trip_is_deterministic_and_agrees_with_kenlm(tmp_path, capfd, prune):
    model = estimate(sentences() + RARE, order=3, prune=prune)
    a, b = tmp_path / "a.arpa.gz", tmp_path / "b.arpa.gz"
    write_arpa(model, a)
    write_arpa(model, b)
    assert a.read_bytes() == b.read_bytes()  # no timestamp in the gzip header
    assert gzip.decompress(a.read_bytes()).decode().startswith("\n\\data\\\nngram 1=")
    back = read_arpa(a)
    for n in model:
        for gram, (p, bow) in model[n].items():
            assert back[n][gram] == pytest.approx((p, bow), abs=1e-6)
    ours = ArpaLM(a)
    assert ours.order == 3 and "cat" in ours and "zebra" not in ours
    assert ours.is_prefix("ca") and ours.is_prefix("") and not ours.is_prefix("zz")
    if not HAVE_KENLM:
        pytest.skip("kenlm not installed: ArpaLM checked alone")
    from wav2vec2_conformer.lm import NGramLM

    capfd.readouterr()
    theirs = NGramLM(a)
    print("after loading", file=sys.stderr)  # stderr works again, and KenLM's hint is gone
    assert capfd.readouterr().err == "after loading\n"
    rng = random.Random(1)
    for text in sentences(50, seed=3):
        s1, s2 = ours.begin(), theirs.begin()
        for word in [*text.split(), "zebra", rng.choice(WORDS)]:
            (l1, s1), (l2, s2) = ours.score(s1, word), theirs.score(s2, word)
            assert l1 == pytest.approx(l2, abs=1e-4)
        assert ours.score_end(s1) == pytest.approx(theirs.score_end(s2), abs=1e-4)


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="order must be at least 2"):
        estimate(["a b"], order=1)
    with pytest.raises(ValueError, match="no text"):
        estimate(["", "   "], order=3)
    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="garbage.arpa"):
        ArpaLM(garbage)
    with pytest.raises(FileNotFoundError, match="missing.arpa"):
        ArpaLM(tmp_path / "missing.arpa")


def test_cli_builds_an_lm_from_manifests_and_text(tmp_path, capsys):
    (tmp_path / "train.tsv").write_text("a.wav\tThe  Cat sat\nb.wav\tthe dog\n\n")
    (tmp_path / "more.txt").write_text("a cat ran\n")
    out = tmp_path / "lm.arpa"
    assert main(["lm", str(tmp_path / "train.tsv"), str(tmp_path / "more.txt"), "--out", str(out),
                 "--case", "upper"]) == 0  # fmt: skip
    assert "3 sentences" in capsys.readouterr().out
    lm = ArpaLM(out)
    assert lm.unigrams == ["A", "CAT", "DOG", "RAN", "SAT", "THE"]
    assert main(["lm", str(tmp_path / "missing.txt"), "--out", str(out)]) == 1
    assert "missing.txt" in capsys.readouterr().err
    words = tmp_path / "words"
    words.write_text("Tact\ncat\nCafé\ngod's\nzoo\nR2D2\ntact\n", encoding="utf-8")
    assert main(["lm", str(tmp_path / "train.tsv"), "--out", str(out), "--case", "lower",
                 "--vocabulary", str(words)]) == 0  # fmt: skip
    assert f"(1 words from {words})" in capsys.readouterr().out  # not é ' z 2: not in the text
    assert ArpaLM(out).unigrams == ["cat", "dog", "sat", "tact", "the"]
    assert main(["lm", str(tmp_path / "train.tsv"), "--out", str(out),
                 "--vocabulary", str(tmp_path / "nowords")]) == 1  # fmt: skip
    assert "nowords" in capsys.readouterr().err


def transcribe_args(wav, model) -> list[str]:
    return ["transcribe", str(wav), "--model", str(model)]


def test_a_model_folders_language_model_is_used_by_default(tmp_path, capsys):
    model = make_model_dir(tmp_path / "model")
    pipe = load_pipeline(model)
    assert decoding_for(pipe).lm is None and decoding_for(pipe).beam_size == 1
    folder = model / "language_model"
    folder.mkdir()
    with pytest.raises(ValueError, match="no language model file"):
        decoding_for(pipe)
    write_arpa(estimate(["hello world", "the quick brown fox"], 2), folder / "lm.arpa.gz")
    (folder / "attrs.json").write_text(json.dumps({"alpha": 0.7, "beta": 2.0, "beam_size": 8}))
    d = decoding_for(pipe)
    assert d.lm is not None and (d.alpha, d.beta, d.beam_size) == (0.7, 2.0, 8)
    assert d.token_min_logp is None  # the search's default
    attrs = {"alpha": 0.7, "beta": 2.0, "beam_size": 8, "token_min_logp": -12.0}
    (folder / "attrs.json").write_text(json.dumps(attrs))
    assert decoding_for(pipe).token_min_logp == -12.0
    assert decoding_for(pipe, beam_size=4, alpha=0.1).alpha == 0.1
    assert decoding_for(pipe, lm=False).lm is None
    with pytest.raises(ValueError, match="alpha, beta and unk_offset weight a language model"):
        decoding_for(pipe, lm=False, alpha=1.0)
    # the unknown-word offset: the folder's, else the search's default, overridable
    assert decoding_for(pipe).unk_offset is None
    (folder / "attrs.json").write_text(json.dumps({**attrs, "unk_score_offset": -13.0}))
    assert decoding_for(pipe).unk_offset == -13.0
    assert decoding_for(pipe, unk_offset=-4.0).unk_offset == -4.0
    with pytest.raises(ValueError, match="unk_offset weight a language model"):
        decoding_for(pipe, lm=False, unk_offset=-4.0)
    (folder / "attrs.json").write_text(json.dumps(attrs))
    wav = tmp_path / "a.wav"
    sf.write(wav, speechlike(1.0, 0), SR)
    (logp,) = transcribe_arrays(pipe, [speechlike(1.0, 0).astype(np.float32)])
    lm = ArpaLM(folder / "lm.arpa.gz")
    settings = dict(beam_size=8, lm=lm, alpha=0.7, beta=2.0)
    want = beam_search_decode(logp, pipe.vocab, token_min_logp=-12, **settings).text
    assert main(["transcribe", str(wav), "--model", str(model)]) == 0  # the folder's LM
    assert capsys.readouterr().out.strip() == want
    # --token-min-logp overrides the folder's setting (at -0.5 the text changes)
    narrow = beam_search_decode(logp, pipe.vocab, token_min_logp=-0.5, **settings).text
    assert narrow != want
    assert main(["transcribe", str(wav), "--model", str(model), "--token-min-logp", "-0.5"]) == 0
    assert capsys.readouterr().out.strip() == narrow
    # so does transcribe()'s, as do its alpha and beta the folder's weights
    assert transcribe(str(wav), model=pipe).text == want
    assert transcribe(str(wav), model=pipe, token_min_logp=-0.5).text == narrow
    bonus = {**settings, "alpha": 0.0, "beta": 5.0}  # the word bonus ends on a word here
    heavy = beam_search_decode(logp, pipe.vocab, token_min_logp=-12, **bonus).text
    assert heavy != want
    assert transcribe(str(wav), model=pipe, alpha=0.0, beta=5.0).text == heavy
    assert decoding_for(pipe, lm=False, token_min_logp=-3).token_min_logp == -3
    assert main(["transcribe", str(wav), "--model", str(model), "--token-min-logp", "2"]) != 0
    assert "token_min_logp must be <= 0" in capsys.readouterr().err
    assert main(["transcribe", str(wav), "--model", str(model), "--no-lm"]) == 0
    assert capsys.readouterr().out.strip() == greedy_decode(logp, pipe.vocab).text
    # blank_offset: attrs.json's, overridden by the option and by transcribe()'s argument
    assert decoding_for(pipe).blank_offset == 0.0
    shifted = shift_blank(logp, pipe.vocab.blank_id, -3.0)
    eager = beam_search_decode(shifted, pipe.vocab, token_min_logp=-12, **settings).text
    assert eager != want
    (folder / "attrs.json").write_text(json.dumps({**attrs, "blank_offset": -3.0}))
    assert decoding_for(pipe).blank_offset == -3.0
    assert transcribe(str(wav), model=pipe).text == eager
    assert transcribe(str(wav), model=pipe, blank_offset=0.0).text == want
    assert main(["transcribe", str(wav), "--model", str(model), "--blank-offset", "0"]) == 0
    assert capsys.readouterr().out.strip() == want
    args = ["transcribe", str(wav), "--model", str(model), "--no-lm", "--blank-offset", "-3"]
    assert main(args) == 0  # without an LM, too
    assert capsys.readouterr().out.strip() == greedy_decode(shifted, pipe.vocab).text
    assert main(["transcribe", str(wav), "--model", str(model), "--blank-offset", "nan"]) != 0
    assert "blank_offset must be a finite number" in capsys.readouterr().err
    # temperature: the same, applied before the blank offset
    (folder / "attrs.json").write_text(json.dumps(attrs))
    assert decoding_for(pipe).temperature == 1.0
    warm = beam_search_decode(soften(logp, 4.0), pipe.vocab, token_min_logp=-12, **settings).text
    assert warm != want
    (folder / "attrs.json").write_text(json.dumps({**attrs, "temperature": 4.0}))
    assert decoding_for(pipe).temperature == 4.0
    assert transcribe(str(wav), model=pipe).text == warm
    assert transcribe(str(wav), model=pipe, temperature=1.0).text == want
    assert main(["transcribe", str(wav), "--model", str(model), "--temperature", "1"]) == 0
    assert capsys.readouterr().out.strip() == want
    both = shift_blank(soften(logp, 4.0), pipe.vocab.blank_id, -3.0)
    args = ["transcribe", str(wav), "--model", str(model), "--no-lm", "--blank-offset", "-3"]
    assert main([*args, "--temperature", "4"]) == 0
    assert capsys.readouterr().out.strip() == greedy_decode(both, pipe.vocab).text
    assert main(["transcribe", str(wav), "--model", str(model), "--temperature", "0"]) != 0
    assert "temperature must be a positive finite number" in capsys.readouterr().err
    # the unknown-word offset reaches the search from transcribe() and the command line
    args = build_parser().parse_args(transcribe_args(wav, model))
    assert _setup(args)[1].unk_offset is None
    args = build_parser().parse_args([*transcribe_args(wav, model), "--unk-offset", "-7"])
    assert _setup(args)[1].unk_offset == -7.0
    with pytest.raises(ValueError, match="unk_offset must be a finite number"):
        transcribe(str(wav), model=pipe, unk_offset=float("nan"))
    assert main([*transcribe_args(wav, model), "--no-lm", "--unk-offset", "-7"]) != 0
    assert "unk_offset weight a language model" in capsys.readouterr().err


@pytest.mark.parametrize("order", [2, 3])
def test_pruning_drops_rare_ngrams_and_keeps_distributions_whole(order):
    text = sentences(300) + RARE
    full, pruned = estimate(text, order), estimate(text, order, prune=1)
    assert estimate(text, order, prune=0) == full
    assert pruned[1].keys() == full[1].keys()  # words are never pruned
    for n in range(2, order + 1):
        assert 0 < len(pruned[n]) < len(full[n])
        for g in pruned[n]:
            assert pruned[n][g][0] == full[n][g][0]  # kept probabilities unchanged
            if n > 2:
                assert g[:-1] in pruned[n - 1] and g[1:] in pruned[n - 1]
    vocab = [w for (w,) in pruned[1] if w != "<s>"]
    contexts = [("<s>",), ("the",), ("cat", "sat"), ("<s>", "the"), ("zebra",), ()]
    for context in contexts + [g for g in list(pruned[order - 1])[:20]]:
        total = sum(10 ** score_gram(pruned, (*context, w)) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), context


def test_cli_prunes_and_rounds_on_request(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(sentences(300) + RARE) + "\n")
    runs = {"full": [], "pruned": ["--prune", "2"], "rounded": ["--digits", "3"]}
    for name, extra in runs.items():
        out = str(tmp_path / f"{name}.arpa")
        assert main(["lm", str(text), "--out", out, "--order", "2", *extra]) == 0
    full, pruned = read_arpa(tmp_path / "full.arpa"), read_arpa(tmp_path / "pruned.arpa")
    assert len(pruned[2]) < len(full[2]) and pruned[1].keys() == full[1].keys()
    rounded = read_arpa(tmp_path / "rounded.arpa")
    assert (
        rounded.keys() == full.keys()
        and (tmp_path / "rounded.arpa").stat().st_size < (tmp_path / "full.arpa").stat().st_size
    )
    for n in full:
        for gram, (p, bow) in full[n].items():
            assert rounded[n][gram] == pytest.approx((p, bow), abs=5e-4 + 1e-9)
