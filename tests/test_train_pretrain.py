"""wav2vec 2.0 pre-training on a few spoken utterances (espeak-ng)."""

from __future__ import annotations

import json
import math

import pytest
from train_utils import TEST_MODEL, corpus

from wav2vec2_conformer import Wav2Vec2ConformerForCTC
from wav2vec2_conformer.train import FinetuneConfig, PretrainConfig, cli, finetune, pretrain


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("speech"))


def test_pretraining_lowers_the_contrastive_loss_and_uses_the_codebook(manifest, tmp_path):
    out = tmp_path / "pre"
    cfg = PretrainConfig(
        train=str(manifest),
        dev=str(manifest),
        out=str(out),
        model=TEST_MODEL,
        lr=2e-3,
        max_updates=100,  # 60 left the margin thin on some seeds and thread counts
        warmup_updates=10,
        log_every=5,
        eval_every=100,
        min_sample_size=0,
        gumbel_temperature=(2.0, 0.5, 0.99),
        num_workers=0,
        progress=False,
    )
    result = pretrain(cfg)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    first = sum(r["contrastive"] for r in train[:2]) / 2
    last = sum(r["contrastive"] for r in train[-2:]) / 2
    assert last < first - 0.3, [r["contrastive"] for r in train]
    assert all(r["perplexity"] > 1.0 for r in train)
    assert {"loss", "diversity", "accuracy", "temperature", "masked_frames"} <= set(train[-1])
    assert train[-1]["accuracy"] > train[0]["accuracy"]
    chance = 1 / (TEST_MODEL["num_negatives"] + 1)  # the positive among 20 distractors
    assert last < math.log(1 / chance) - 0.2 and train[-1]["accuracy"] > 2 * chance
    assert train[-1]["temperature"] < train[0]["temperature"]
    assert {"contrastive", "accuracy", "perplexity"} <= set(result["dev"])
    # the pre-trained encoder loads into a CTC model and fine-tunes from there
    ctc = Wav2Vec2ConformerForCTC.from_pretrained(out / "final", vocab_size=10)
    assert ctc.config.hidden_size == TEST_MODEL["hidden_size"]
    result = finetune(
        FinetuneConfig(
            train=str(manifest),
            out=str(tmp_path / "ft"),
            init=str(out / "final"),
            max_updates=2,
            num_workers=0,
            progress=False,
        )
    )
    assert result["train"]["loss"] > 0
    assert (tmp_path / "ft" / "final" / "vocab.json").exists()


@pytest.mark.slow
def test_the_documented_default_command(manifest, tmp_path):
    """`w2vc pretrain --train TRAIN.tsv --out DIR --preset tiny --max-updates 50`."""
    out = tmp_path / "run"
    argv = ["pretrain", "--train", str(manifest), "--out", str(out), "--preset", "tiny"]
    assert cli.main([*argv, "--max-updates", "50"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["perplexity"] > 1 for r in rows)
    assert Wav2Vec2ConformerForCTC.from_pretrained(out / "final", vocab_size=32)
