"""CTC fine-tuning end to end on real speech (espeak-ng): over-fitting, outputs, freezing, CLI."""

from __future__ import annotations

import json

import jiwer
import pytest
import torch
from train_utils import (
    NO_DROPOUT,
    SENTENCES,
    TEST_MODEL,
    corpus,
    finetune_argv,
    write_manifest,
)

from wav2vec2_conformer import Wav2Vec2ConformerConfig, Wav2Vec2ConformerForCTC
from wav2vec2_conformer.audio import load_audio
from wav2vec2_conformer.cli import main as w2vc
from wav2vec2_conformer.decoding import CTCVocab, greedy_decode
from wav2vec2_conformer.processor import Wav2Vec2Processor
from wav2vec2_conformer.tokenizer import Wav2Vec2CTCTokenizer
from wav2vec2_conformer.train import FinetuneConfig, cli, finetune
from wav2vec2_conformer.train.finetune import CTCJob, build_model
from wav2vec2_conformer.train.runtime import Dist


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("speech"))


def transcribe(model_dir, paths):
    """A padded batch through the public loading classes; each item decoded over its own frames.

    (One file at a time differs for this over-fitted model: its group-norm feature encoder
    normalises over the padding, and it learned from its one fixed padded batch. Without
    `mask_padding_in_convs`, which its config.json turns on, the last words go wrong.)"""
    processor = Wav2Vec2Processor.from_pretrained(model_dir)
    model = Wav2Vec2ConformerForCTC.from_pretrained(model_dir)
    assert model.base.encoder.mask_conv_padding  # trained with it: config.json says so
    audio = [load_audio(p, 16000) for p in paths]
    inputs = processor(audio, sampling_rate=16000, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(inputs["input_values"], attention_mask=inputs["attention_mask"]).logits
    frames = model.feat_extract_output_lengths(inputs["attention_mask"].sum(-1))
    vocab = CTCVocab.from_vocab_dict(processor.tokenizer.get_vocab())
    return [r.text for r in greedy_decode(logits, vocab, frames)]


def test_overfits_a_few_spoken_utterances(manifest, tmp_path):
    out = tmp_path / "run"
    cfg = FinetuneConfig(
        train=str(manifest),
        dev=str(manifest),
        out=str(out),
        model={**TEST_MODEL, **NO_DROPOUT},
        layerdrop=0.0,
        mask_time_prob=0.0,
        freeze_feature_encoder=False,
        lr=3e-3,
        schedule="warmup_decay",
        warmup_updates=20,
        decay="constant",
        max_updates=200,
        eval_every=100,
        save_every=100,
        log_every=10,
        num_workers=0,
        progress=False,
    )
    result = finetune(cfg)
    assert result["dev"]["cer"] < 5.0, result
    # the final folder is a complete HF model + processor that loads with the public classes
    names = {p.name for p in (out / "final").iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "vocab.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    } <= names
    wavs = sorted((manifest.parent / "audio").glob("*.wav"))
    hyps = transcribe(out / "final", wavs)
    assert 100 * jiwer.cer(SENTENCES, hyps) < 5.0, hyps
    # logs: JSONL with train and dev rows, the effective options, the best model
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"train", "dev"}
    train_losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert train_losses[-1] < 0.1 * train_losses[0]
    assert {"lr", "grad_norm", "audio_s_per_s", "epoch"} <= set(rows[0])
    assert "lr: 0.003" in (out / "train_config.yaml").read_text()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "best" / "model.safetensors").exists()
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["update_00000100.pt", "update_00000200.pt"]
    # `w2vc average` of the newest checkpoint alone rebuilds the final model from a training file
    assert w2vc(["average", str(out), "--last", "1", "--out", str(tmp_path / "avg")]) == 0
    assert transcribe(tmp_path / "avg", wavs) == hyps


def test_frozen_feature_encoder_and_frozen_encoder_phase(manifest, tmp_path):
    torch.manual_seed(0)
    config = Wav2Vec2ConformerConfig.from_dict({**TEST_MODEL, "vocab_size": 20})
    Wav2Vec2ConformerForCTC(config).save_pretrained(tmp_path / "init")
    before = dict(Wav2Vec2ConformerForCTC.from_pretrained(tmp_path / "init").named_parameters())
    base = dict(
        train=str(manifest),
        init=str(tmp_path / "init"),
        lr=1e-3,
        num_workers=0,
        progress=False,
        mask_time_prob=0.3,
        layerdrop=0.0,
    )
    finetune(
        FinetuneConfig(out=str(tmp_path / "a"), max_updates=2, freeze_encoder_updates=5, **base)
    )
    after = Wav2Vec2ConformerForCTC.from_pretrained(tmp_path / "a" / "final")
    assert after.config.mask_time_prob == 0.3 and after.config.layerdrop == 0.0
    assert after.config.vocab_size == 26  # the vocabulary built from the transcripts
    state = dict(after.named_parameters())
    changed = {k for k in state if not torch.equal(state[k], before[k])}
    assert changed == {"lm_head.weight", "lm_head.bias"}, changed  # only the head learned
    finetune(FinetuneConfig(out=str(tmp_path / "b"), max_updates=2, **base))
    state = dict(
        Wav2Vec2ConformerForCTC.from_pretrained(tmp_path / "b" / "final").named_parameters()
    )
    changed = {k for k in state if not torch.equal(state[k], before[k])}
    assert any(k.startswith("wav2vec2_conformer.encoder.") for k in changed)
    assert not any(".feature_extractor." in k for k in changed)  # frozen by default


def test_dev_numbers_do_not_depend_on_how_the_dev_set_is_batched(manifest, tmp_path):
    """With `mask_conv_padding` (the default) training and dev evaluation zero padded frames
    before each depthwise conv: a "layer" feature-norm model scores the same in one padded
    batch as one by one, as in `w2vc evaluate`. Without it (the reference way) padding leaks."""
    torch.manual_seed(0)
    config = Wav2Vec2ConformerConfig.from_dict(
        {**TEST_MODEL, **NO_DROPOUT, "feat_extract_norm": "layer", "vocab_size": 26}
    )
    Wav2Vec2ConformerForCTC(config).save_pretrained(tmp_path / "init")
    base = dict(train=str(manifest), dev=str(manifest), init=str(tmp_path / "init"))
    base.update(out=str(tmp_path / "out"), num_workers=0, progress=False)
    alone = CTCJob(FinetuneConfig(**base, max_batch_size=1), Dist()).evaluate(Dist())
    job = CTCJob(FinetuneConfig(**base), Dist())
    assert job.model.base.encoder.mask_conv_padding
    together = job.evaluate(Dist())
    assert together["utterances"] == alone["utterances"] == len(SENTENCES)
    assert together["loss"] == pytest.approx(alone["loss"], rel=1e-5)
    leaky = CTCJob(FinetuneConfig(**base, mask_conv_padding=False), Dist())
    assert not leaky.model.base.encoder.mask_conv_padding
    assert leaky.evaluate(Dist())["loss"] != pytest.approx(alone["loss"], rel=1e-5)


def test_feature_encoder_is_frozen_by_default_only_when_starting_from_a_model(tmp_path):

    tokenizer = Wav2Vec2CTCTokenizer(vocab={"<pad>": 0, "<unk>": 1, "|": 2, "a": 3})
    config = Wav2Vec2ConformerConfig.from_dict({**TEST_MODEL, "vocab_size": 4})
    Wav2Vec2ConformerForCTC(config).save_pretrained(tmp_path / "init")

    def trains_features(**kw):
        cfg = FinetuneConfig(train="t.tsv", out="o", model=TEST_MODEL, **kw)
        model = build_model(cfg, tokenizer)
        return all(p.requires_grad for p in model.wav2vec2_conformer.feature_extractor.parameters())

    assert trains_features()  # a fresh model must learn its features
    assert not trains_features(init=str(tmp_path / "init"))
    assert not trains_features(freeze_feature_encoder=True)
    assert trains_features(init=str(tmp_path / "init"), freeze_feature_encoder=False)


def test_cli_defaults_run(manifest, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = finetune_argv(manifest, out, "--preset", "tiny", "--max-updates", "2", "--no-progress")
    assert cli.main(argv) == 0
    assert f"final model: {out}/final" in capsys.readouterr().out
    assert transcribe(out / "final", [manifest.parent / "audio" / "utt0.wav"])  # loads, runs
    # a second start into the same folder refuses to overwrite the run, --resume continues it
    assert cli.main(argv) == 1
    assert "pass --resume" in capsys.readouterr().err
    assert cli.main([*argv[:-3], "--max-updates", "3", "--resume", "--no-progress"]) == 0
    assert "resumed from" in (out / "train.log").read_text()


def test_bad_input_is_reported_or_stops(manifest, tmp_path, capsys):
    audio = manifest.parent / "audio"
    (tmp_path / "noise.wav").write_text("this is not audio", encoding="utf-8")
    data = (audio / "utt1.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])  # header promises more samples
    rows = [(str(audio / f"utt{i}.wav"), t) for i, t in enumerate(SENTENCES[:3])]
    rows += [
        (str(tmp_path / "missing.wav"), "the cat"),
        (str(tmp_path / "noise.wav"), "the cat"),
        (str(tmp_path / "cut.wav"), "a big dog"),
        (str(audio / "utt3.wav"), "the cat? yes"),
    ]
    m = write_manifest(tmp_path / "bad.tsv", rows)
    (tmp_path / "vocab.json").write_text(
        json.dumps(
            {
                c: i
                for i, c in enumerate(
                    ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz"]
                )
            }
        )
    )
    out = tmp_path / "run"
    argv = [
        "finetune",
        "--train",
        str(m),
        "--out",
        str(out),
        "--vocab",
        str(tmp_path / "vocab.json"),
        "--model",
        *[f"{k}={v}" for k, v in TEST_MODEL.items()],
        "--max-updates",
        "2",
        "--num-workers",
        "0",
        "--no-progress",
        "--max-batch-size",
        "2",
    ]
    assert cli.main(argv) == 0
    log = (out / "train.log").read_text()
    assert "4 of 7 utterances kept" in log
    assert "skipped 1 (missing file), e.g. line 4: missing.wav" in log
    assert "skipped 1 (unreadable audio), e.g. line 5: noise.wav (Format not recognised" in log
    assert "skipped 1 (out-of-vocabulary characters), e.g. line 7: utt3.wav ('?')" in log
    assert "skipped an utterance" in log and "cut.wav: truncated" in log  # found while loading
    capsys.readouterr()
    assert cli.main([*argv[:4], str(tmp_path / "run2"), *argv[5:], "--bad-input", "error"]) == 1
    assert "line 4: missing.wav: missing file" in capsys.readouterr().err
    (tmp_path / "empty.tsv").write_text("")
    assert (
        cli.main(
            ["finetune", "--train", str(tmp_path / "empty.tsv"), "--out", str(tmp_path / "run3")]
        )
        == 1
    )
    assert "the manifest holds no utterances" in capsys.readouterr().err


@pytest.mark.slow
def test_the_documented_default_command(manifest, tmp_path):
    """`w2vc finetune --train TRAIN.tsv --dev DEV.tsv --out DIR --preset tiny --max-updates 50`."""
    out = tmp_path / "run"
    argv = ["finetune", "--train", str(manifest), "--dev", str(manifest), "--out", str(out)]
    assert cli.main([*argv, "--preset", "tiny", "--max-updates", "50"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows if r["split"] == "train"] == [10, 20, 30, 40, 50]
    assert transcribe(out / "final", [manifest.parent / "audio" / "utt0.wav"])
