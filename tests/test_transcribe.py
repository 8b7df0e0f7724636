"""Long-form transcription, batching, the `w2vc transcribe` / `w2vc evaluate` commands."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf
import torch

import wav2vec2_conformer as w
from wav2vec2_conformer.cli import main
from wav2vec2_conformer.decoding import WordTiming
from wav2vec2_conformer.segment import chunk_spans
from wav2vec2_conformer.tokenizer import build_vocab
from wav2vec2_conformer.transcribe import load_pipeline, transcribe_arrays
from wav2vec2_conformer.writers import format_result, segments

SR = 16000


def make_model_dir(path, layers=2, norm="layer", seed=0, mask=None):
    """A tiny random CTC model with processor files: what `w2vc transcribe --model` takes."""
    vocab = build_vocab(["hello world", "the quick brown fox jumps over a lazy dog"])
    cfg = w.Wav2Vec2ConformerConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=[16] * 7,
        feat_extract_norm=norm,
        position_embeddings_type="rotary",
        conv_depthwise_kernel_size=3,
    )
    torch.manual_seed(seed)
    model = w.Wav2Vec2ConformerForCTC(cfg).eval()
    with torch.no_grad():  # a confident head so that decoded text is not empty
        model.lm_head.weight.mul_(50)
    model.save_pretrained(path)
    vocab_file = path / "vocab.json"
    vocab_file.write_text(json.dumps(vocab))
    tok = w.Wav2Vec2CTCTokenizer(str(vocab_file))
    fe = w.Wav2Vec2FeatureExtractor(return_attention_mask=norm == "layer" if mask is None else mask)
    w.Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("model"))


def speechlike(seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = 150 + 100 * np.sin(2 * np.pi * 0.5 * t)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (
        0.3 * env * np.sin(2 * np.pi * np.cumsum(f) / SR) + 0.01 * rng.standard_normal(len(t))
    ).astype(np.float32)


def test_chunk_spans_cover_the_input_once():
    hop = 320
    for n in [1000, 16000, 16000 * 7 + 123, 16000 * 30]:
        spans = chunk_spans(n, chunk=hop * 100, stride=hop * 10, hop=hop)
        assert spans[0][0] == 0 and spans[-1][1] == n
        kept = [(a, b) for _, _, a, b in spans]
        assert kept[0][0] == 0 and kept[-1][1] == n
        for prev, nxt in zip(kept, kept[1:], strict=False):
            assert prev[1] == nxt[0]  # contiguous, no overlap
        for start, end, a, b in spans:
            assert start % hop == 0 and start <= a < b <= end
    with pytest.raises(ValueError):
        chunk_spans(100000, chunk=3200, stride=1600, hop=320)


def test_chunked_equals_single_pass_for_local_model(tmp_path):
    """With no attention layers every frame depends only on its receptive field, so stitched
    chunks must equal the single pass exactly: this checks the frame bookkeeping."""
    pipe = load_pipeline(make_model_dir(tmp_path, layers=0))
    wav = speechlike(7.3, 0)
    # the feature extractor normalises the whole input once, before chunking
    (whole,) = transcribe_arrays(pipe, [wav], chunk_length_s=None)
    (chunked,) = transcribe_arrays(pipe, [wav], chunk_length_s=1.0, stride_s=0.2)
    assert whole.shape == chunked.shape
    assert np.abs(whole - chunked).max() < 1e-4


def test_chunked_close_to_single_pass_away_from_edges(model_dir):
    """With attention, chunks see less context; the argmax path still agrees on most frames."""
    pipe = load_pipeline(model_dir)
    wav = speechlike(12.0, 1)
    (whole,) = transcribe_arrays(pipe, [wav], chunk_length_s=None)
    (chunked,) = transcribe_arrays(pipe, [wav], chunk_length_s=6.0, stride_s=1.0)
    assert whole.shape == chunked.shape
    agree = (whole.argmax(-1) == chunked.argmax(-1)).mean()
    assert agree > 0.8, agree


def test_batch_of_different_lengths_matches_one_by_one(model_dir):
    pipe = load_pipeline(model_dir)
    waves = [speechlike(s, i) for i, s in enumerate([1.5, 3.0, 2.2])]
    batched = transcribe_arrays(pipe, waves, batch_size=3, chunk_length_s=None)
    for wav, lp in zip(waves, batched, strict=True):
        (alone,) = transcribe_arrays(pipe, [wav], chunk_length_s=None)
        assert lp.shape == alone.shape
        # the pipeline masks padding in the convs too (`mask_padding_in_convs`): every frame
        # equals its frame alone, up to float noise (batched matmuls) scaled up by the test
        # model's x50 output layer
        np.testing.assert_allclose(lp, alone, atol=1e-3)
        assert (lp.argmax(-1) == alone.argmax(-1)).all()


@pytest.mark.parametrize("mask", [False, True])
def test_group_norm_model_is_never_batched_with_padding(tmp_path, mask):
    # group norm spans the padding, attention mask or not (the bundled model has one): only
    # equal lengths may share a batch, so batched == alone
    pipe = load_pipeline(make_model_dir(tmp_path / "gn", norm="group", seed=4, mask=mask))
    waves = [speechlike(s, i) for i, s in enumerate([1.5, 3.0, 1.5, 2.2])]
    batched = transcribe_arrays(pipe, waves, batch_size=4, chunk_length_s=None)
    for wav, lp in zip(waves, batched, strict=True):
        (alone,) = transcribe_arrays(pipe, [wav], chunk_length_s=None)
        np.testing.assert_allclose(lp, alone, atol=1e-4)


def test_transcribe_api_files_arrays_and_timestamps(model_dir, tmp_path):
    wav = speechlike(2.0, 3)
    path = tmp_path / "a.wav"
    sf.write(path, wav, SR)
    from_file = w.transcribe(str(path), model=model_dir, return_timestamps="word")
    from_array = w.transcribe(wav, model=model_dir)
    assert from_file.text == from_array.text and from_file.text
    assert from_file.source == str(path) and abs(from_file.duration_s - 2.0) < 1e-6
    assert from_file.words, "no word timings"
    ends = [(x.start_s, x.end_s) for x in from_file.words]
    assert all(0 <= a < b <= 2.0 for a, b in ends)
    assert ends == sorted(ends)
    many = w.transcribe([wav, wav[:16000]], model=model_dir)
    assert isinstance(many, list) and len(many) == 2
    with pytest.raises(ValueError, match="return_timestamps"):
        w.transcribe(wav, model=model_dir, return_timestamps="sentence")


def test_writers():
    words = [
        WordTiming(t, i, i + 1, a, b)
        for i, (t, a, b) in enumerate(
            [("hello", 0.0, 0.4), ("world", 0.5, 0.9), ("again", 3.0, 3.5)]
        )
    ]

    class R:
        text = "hello world again"
        duration_s = 4.0

        def to_dict(self):
            return {"text": self.text}

    R.words = words
    assert segments(words) == [(0.0, 0.9, "hello world"), (3.0, 3.5, "again")]
    srt = format_result(R(), "srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:00,900\nhello world\n")
    assert "2\n00:00:03,000 --> 00:00:03,500\nagain" in srt
    assert format_result(R(), "vtt").startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.900\n")
    assert format_result(R(), "tsv").splitlines()[1] == "0\t900\thello world"


def test_cli_transcribe_bad_files_are_reported_and_skipped(model_dir, tmp_path, capsys):
    good1, good2 = tmp_path / "good1.wav", tmp_path / "good2.flac"
    sf.write(good1, speechlike(1.2, 4), SR)
    sf.write(good2, speechlike(0.8, 5), 44100 // 2)  # other rate: resampled, not refused
    (tmp_path / "text.wav").write_text("this is not audio")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    sf.write(tmp_path / "tiny.wav", np.zeros(10, dtype=np.float32), SR)
    nan = speechlike(1.0, 6)
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, SR, subtype="FLOAT")
    (tmp_path / "no_audio").mkdir()
    (tmp_path / "no_audio" / "readme.txt").write_text("x")
    inputs = [
        good1,
        tmp_path / "text.wav",
        tmp_path / "empty.wav",
        tmp_path / "tiny.wav",
        tmp_path / "nan.wav",
        tmp_path / "missing.wav",
        tmp_path / "no_audio",
        good2,
    ]
    code = main(["transcribe", *map(str, inputs), "--model", str(model_dir)])
    out, err = capsys.readouterr()
    assert code != 0
    lines = out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [str(good1), str(good2)]
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    for name in ["text.wav", "empty.wav", "tiny.wav", "nan.wav", "missing.wav", "no_audio"]:
        assert sum(name in ln for ln in errors) == 1, (name, errors)
    assert "Traceback" not in err


@pytest.mark.parametrize("fmt", ["txt", "json", "srt", "vtt", "tsv"])
def test_cli_output_formats(fmt, model_dir, tmp_path, capsys):
    audio = tmp_path / "in"
    audio.mkdir()
    sf.write(audio / "clip.wav", speechlike(1.5, 7), SR)
    out_dir = tmp_path / "out"
    assert (
        main(
            [
                "transcribe",
                str(audio),
                "--model",
                str(model_dir),
                "--output-format",
                fmt,
                "--output-dir",
                str(out_dir),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out.strip()
    written = (out_dir / f"clip.{fmt}").read_text()
    if fmt == "json":
        data = json.loads(written)
        assert data["text"] == text and "words" not in data
    elif fmt == "txt":
        assert written.strip() == text
    else:
        assert written.strip() or not text


def test_cli_evaluate(model_dir, tmp_path, capsys):
    rows = []
    for i in range(3):
        sf.write(tmp_path / f"u{i}.wav", speechlike(1.0 + i * 0.3, 10 + i), SR)
        rows.append(f"u{i}.wav\tHello World {i}")
    (tmp_path / "m.tsv").write_text("\n".join(rows) + "\n")
    report = tmp_path / "r.json"
    code = main(
        ["evaluate", str(tmp_path / "m.tsv"), "--model", str(model_dir), "--json", str(report)]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert re.fullmatch(r"WER \d+\.\d\d% CER \d+\.\d\d%", out[-1]), out[-1]
    data = json.loads(report.read_text())
    import jiwer

    refs = [r["reference"] for r in data["results"]]
    hyps = [r["hypothesis"] for r in data["results"]]
    assert refs[0] == "hello world 0"
    assert f"WER {100 * jiwer.wer(refs, hyps):.2f}%" in out[-1]


def test_cli_evaluate_batches_files_of_similar_length(tmp_path, capsys):
    """evaluate takes files shortest first (less padding, fuller batches); for a group-norm
    model, interleaved lengths score exactly as one file per forward pass."""
    model = make_model_dir(tmp_path / "gn", norm="group", seed=3)
    rows = []
    for i, seconds in enumerate([2.0, 1.0, 2.0, 1.0]):  # in input order, every pair pads
        sf.write(tmp_path / f"u{i}.wav", speechlike(seconds, 20 + i), SR)
        rows.append(f"u{i}.wav\thello world")
    (tmp_path / "m.tsv").write_text("\n".join(rows) + "\n")

    def hypotheses(batch_size):
        report = tmp_path / f"r{batch_size}.json"
        argv = ["evaluate", str(tmp_path / "m.tsv"), "--model", str(model), "--no-lm"]
        assert main([*argv, "--batch-size", str(batch_size), "--json", str(report)]) == 0
        return [r["hypothesis"] for r in json.loads(report.read_text())["results"]]

    alone = hypotheses(1)
    assert hypotheses(2) == alone
    capsys.readouterr()


def test_cli_evaluate_bad_manifest(model_dir, tmp_path, capsys):
    (tmp_path / "empty.tsv").write_text("\n")
    assert main(["evaluate", str(tmp_path / "empty.tsv"), "--model", str(model_dir)]) == 1
    assert "manifest is empty" in capsys.readouterr().err
    (tmp_path / "bad.tsv").write_text("no_tab_here.wav\n")
    assert main(["evaluate", str(tmp_path / "bad.tsv"), "--model", str(model_dir)]) == 1
    assert "bad.tsv:1" in capsys.readouterr().err


def test_cli_info(model_dir, capsys):
    assert main(["info", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert "Wav2Vec2ConformerForCTC" in out and "vocabulary:" in out and "<pad>" in out


def test_model_folder_sets_the_default_chunk_length(tmp_path):
    from wav2vec2_conformer.feature_extraction import update_saved_config

    path = make_model_dir(tmp_path / "m")
    assert load_pipeline(path).chunk_length_s == 30.0  # no chunk_length_s saved: 30 s
    written = update_saved_config(path, chunk_length_s=2.0)
    assert sorted(p.rsplit("/", 1)[1] for p in written) == [
        "preprocessor_config.json",
        "processor_config.json",
    ]
    for name in ("preprocessor_config.json", "processor_config.json"):  # both loaders agree
        assert '"chunk_length_s": 2.0' in (path / name).read_text()
    pipe = load_pipeline(path)
    assert pipe.chunk_length_s == 2.0 and pipe.processor.feature_extractor.return_attention_mask
    wav = speechlike(9.0, 3)
    (default,) = transcribe_arrays(pipe, [wav])
    (two,) = transcribe_arrays(pipe, [wav], chunk_length_s=2.0)
    (whole,) = transcribe_arrays(pipe, [wav], chunk_length_s=None)
    assert np.array_equal(default, two) and default.shape == whole.shape
    assert not np.allclose(default, whole, atol=1e-4)  # attention saw less context: it chunked
    for never in (0, None):
        update_saved_config(path, chunk_length_s=never)
        assert load_pipeline(path).chunk_length_s is None
    for bad in (-1, "long", True):
        update_saved_config(path, chunk_length_s=bad)
        with pytest.raises(ValueError, match=r"preprocessor_config\.json: chunk_length_s must"):
            load_pipeline(path)
    update_saved_config(path, chunk_length_s=5.0, split_at_pauses="yes")
    with pytest.raises(ValueError, match=r"split_at_pauses must be true or false"):
        load_pipeline(path)


def test_cli_chunk_length_defaults_to_the_models(tmp_path, model_dir, monkeypatch):
    import wav2vec2_conformer.commands as commands

    seen = []

    def spy(pipe, waves, **kwargs):
        seen.append((kwargs["chunk_length_s"], kwargs["split_at_pauses"]))
        return [np.zeros((5, len(pipe.vocab)), np.float32) for _ in waves], [[] for _ in waves]

    monkeypatch.setattr(commands, "transcribe_arrays", spy)
    wav = tmp_path / "a.wav"
    sf.write(wav, speechlike(1.0, 4), SR)
    cases = (
        ([], ("model", "model")),
        (["--chunk-length", "0"], (None, "model")),
        (["--chunk-length", "4", "--split-at-pauses"], (4.0, True)),
        (["--no-split-at-pauses"], ("model", False)),
    )
    for extra, want in cases:
        assert main(["transcribe", str(wav), "--model", str(model_dir), *extra]) == 0
        assert seen.pop() == want
    with pytest.raises(ValueError, match="chunk_length_s must be a positive number"):
        transcribe_arrays(load_pipeline(model_dir), [speechlike(1.0, 4)], chunk_length_s=-2)
