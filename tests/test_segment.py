"""Cutting long audio at its pauses (`segment.pause_cuts`) and transcribing the pieces."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from test_transcribe import SR, make_model_dir, speechlike

from wav2vec2_conformer.cli import main as w2vc
from wav2vec2_conformer.feature_extraction import update_saved_config
from wav2vec2_conformer.segment import frame_levels_db, pause_cuts, quiet_frames
from wav2vec2_conformer.transcribe import load_pipeline, transcribe_arrays

HOP = 320


def sentences_with_pauses(lengths_s, pauses_s, noise=0.0, seed=0):
    """Speech-like bursts with pauses between them; returns the audio and each pause's span."""
    rng = np.random.default_rng(seed)
    parts, spans, at = [], [], 0
    for i, length in enumerate(lengths_s):
        parts.append(speechlike(length, seed + i))
        at += len(parts[-1])
        if i < len(pauses_s):
            parts.append(np.zeros(int(pauses_s[i] * SR), np.float32))
            spans.append((at, at + len(parts[-1])))
            at += len(parts[-1])
    wav = np.concatenate(parts)
    return (wav + noise * rng.standard_normal(len(wav))).astype(np.float32), spans


@pytest.mark.parametrize("noise", [0.0, 0.003])  # digital silence, and a noise floor ~30 dB down
def test_cuts_fall_in_the_middle_of_long_pauses(noise):
    wav, pauses = sentences_with_pauses([2.0, 1.5, 3.0, 2.2], [0.5, 0.1, 0.8], noise)
    cuts = pause_cuts(wav, SR, HOP)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(wav)
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:], strict=False))  # contiguous
    inner = [b for _, b in cuts[:-1]]
    assert all(c % HOP == 0 for c in inner)
    # the 0.5 s and 0.8 s pauses are cut near their middles; the 0.1 s one is not a pause
    assert len(inner) == 2
    for cut, (a, b) in zip(inner, [pauses[0], pauses[2]], strict=True):
        assert abs(cut - (a + b) / 2) <= 2 * HOP


def test_no_cut_without_pauses_or_into_short_pieces():
    assert pause_cuts(speechlike(8.0, 1), SR, HOP) == [(0, 8 * SR)]
    steady = np.full(5 * SR, 0.1, np.float32)  # no frame is quieter than the rest
    assert pause_cuts(steady, SR, HOP) == [(0, len(steady))]
    assert not quiet_frames(frame_levels_db(steady, HOP)).any()
    wav, _ = sentences_with_pauses([0.5, 3.0, 3.0], [0.5, 0.5])
    cuts = pause_cuts(wav, SR, HOP)  # the first pause would leave a 0.75 s piece
    assert len(cuts) == 2 and cuts[0][1] > 3 * SR
    assert len(pause_cuts(wav, SR, HOP, min_piece_s=0.5)) == 3
    assert pause_cuts(wav[:SR], SR, HOP) == [(0, SR)]  # shorter than two pieces


def test_pieces_run_alone_and_stitch_to_the_full_length(tmp_path):
    path = make_model_dir(tmp_path / "m")
    pipe = load_pipeline(path)
    assert pipe.split_at_pauses is False  # not saved: off
    wav, _ = sentences_with_pauses([2.0, 3.0, 2.5], [0.6, 0.6], noise=0.001)
    cuts = pause_cuts(wav, SR, HOP)
    assert len(cuts) == 3
    (whole,) = transcribe_arrays(pipe, [wav], chunk_length_s=None, split_at_pauses=False)
    # one piece per batch: padding would change a conformer's last frames (its convolutions)
    one = dict(chunk_length_s=None, batch_size=1)
    (split,) = transcribe_arrays(pipe, [wav], split_at_pauses=True, **one)
    assert split.shape == whole.shape  # frames stay on the input's time line
    need = pipe.model.config.receptive_field
    for a, b in cuts:  # each piece's frames are what the piece gives alone
        end = b if b == len(wav) else b + need - HOP
        (alone,) = transcribe_arrays(pipe, [wav[a:end]], **one)
        assert np.allclose(split[a // HOP : a // HOP + (b - a) // HOP], alone[: (b - a) // HOP])
    # chunks inside a piece still stitch to the piece's length
    (both,) = transcribe_arrays(pipe, [wav], chunk_length_s=1.0, split_at_pauses=True)
    assert both.shape == whole.shape
    update_saved_config(path, split_at_pauses=True)  # the model's own setting is the default
    (default,) = transcribe_arrays(load_pipeline(path), [wav], **one)
    assert np.array_equal(default, split)


def test_the_shortest_pause_cut_at_is_a_setting(tmp_path, capsys):
    path = make_model_dir(tmp_path / "m")
    pipe = load_pipeline(path)
    assert pipe.min_pause_s == 0.25  # not saved: the default
    wav, _ = sentences_with_pauses([2.0, 3.0, 2.5], [0.35, 0.7], noise=0.001)
    kw = dict(chunk_length_s=None, split_at_pauses=True, return_cuts=True)
    assert len(transcribe_arrays(pipe, [wav], **kw)[1][0]) == 2
    assert len(transcribe_arrays(pipe, [wav], min_pause_s=0.5, **kw)[1][0]) == 1  # 0.7 s only
    update_saved_config(path, min_pause_s=0.5)  # the model's own setting is the default
    assert len(transcribe_arrays(load_pipeline(path), [wav], **kw)[1][0]) == 1
    with pytest.raises(ValueError, match="min_pause_s must be a positive number"):
        transcribe_arrays(pipe, [wav], min_pause_s="long", **kw)
    sf.write(tmp_path / "a.wav", wav, SR)
    argv = ["transcribe", str(tmp_path / "a.wav"), "--model", str(path), "--split-at-pauses"]
    assert w2vc([*argv, "--min-pause", "0.3"]) == 0
    assert w2vc([*argv, "--min-pause", "0"]) == 1
    assert "min_pause_s must be a positive number of seconds, got 0.0" in capsys.readouterr().err
    update_saved_config(path, min_pause_s=-1)
    with pytest.raises(ValueError, match="preprocessor_config.json: min_pause_s must be"):
        load_pipeline(path)


def test_pieces_are_decoded_alone_and_joined_on_the_time_line(tmp_path):
    from wav2vec2_conformer.decoder import Decoding, decode_logprobs
    from wav2vec2_conformer.decoding import CharTiming, DecodeResult, WordTiming, join_results

    spf = 0.02
    word = WordTiming("hi", 1, 3, 0.02, 0.06)
    chars = [CharTiming("h", 1, 2, 0.02, 0.04), CharTiming("i", 2, 3, 0.04, 0.06)]
    parts = [(0, DecodeResult("hi", -1.0, [word], chars)), (50, DecodeResult("", -0.5, [], []))]
    parts.append((80, DecodeResult("hi", -2.0, [word], chars)))
    joined = join_results(parts, spf)
    assert joined.text == "hi hi" and joined.score == -3.5
    assert joined.words[1] == WordTiming("hi", 81, 83, 81 * spf, 83 * spf)
    assert [c.char for c in joined.chars] == ["h", "i", " ", "h", "i"]
    assert joined.chars[2].start_frame == 80 and joined.chars[3].start_s == 81 * spf
    assert join_results([(0, DecodeResult("a", 0.0)), (9, DecodeResult("b", 0.0))], spf).text == (
        "a b"
    )
    # decode_logprobs with cuts: each piece's own text, joined with a space
    pipe = load_pipeline(make_model_dir(tmp_path / "m"))
    wav, _ = sentences_with_pauses([2.0, 3.0, 2.5], [0.6, 0.6], noise=0.001)
    (logp,), (cuts,) = transcribe_arrays(pipe, [wav], split_at_pauses=True, return_cuts=True)
    assert cuts == [a // HOP for a, _ in pause_cuts(wav, SR, HOP)[1:]]
    bounds = [0, *cuts, len(logp)]
    spans = zip(bounds[:-1], bounds[1:], strict=True)
    alone = [decode_logprobs(pipe, logp[a:b], Decoding()).text for a, b in spans]
    result = decode_logprobs(pipe, logp, Decoding(), timestamps=True, cuts=cuts)
    assert result.text == " ".join(t for t in alone if t)
    assert [w.start_frame for w in result.words] == sorted(w.start_frame for w in result.words)
    assert result.words[-1].start_frame >= cuts[-1]  # the last piece's words after its cut
