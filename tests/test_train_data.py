"""Training data: manifests, bad input, batches, schedules and options (no training here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from wav2vec2_conformer.train import cli
from wav2vec2_conformer.train.config import FinetuneConfig, PretrainConfig, load_config
from wav2vec2_conformer.train.data import (
    AudioDataset,
    BucketBatchSampler,
    Collator,
    DataError,
    ctc_min_frames,
    length_batches,
    prepare,
    read_manifest,
)
from wav2vec2_conformer.train.schedule import gumbel_temperature, tri_stage, warmup_decay

SR = 16000
CONV = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))


def tone(path, seconds: float, sr: int = SR) -> str:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), sr, subtype="PCM_16")
    return str(path)


def truncated_wav(path, seconds: float = 1.0) -> str:
    """A WAV whose header declares more samples than the file holds: sf.info reads it fine,
    decoding finds it short (the failure only a DataLoader worker sees)."""
    tone(path, seconds)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def frames(samples: int) -> int:
    for k, s in CONV:
        samples = (samples - k) // s + 1
    return samples


def encode_with(vocab: str):
    def encode(text: str):
        return [vocab.index(c) for c in text if c in vocab], [c for c in text if c not in vocab]

    return encode


def test_manifest_paths_are_relative_to_it_and_blank_lines_skipped(tmp_path):
    (tmp_path / "a").mkdir()
    m = tmp_path / "a" / "m.tsv"
    m.write_text("x.wav\thello world\n\n/abs/y.wav\tbye\nz.wav\n", encoding="utf-8")
    rows = read_manifest(str(m), with_text=True)
    assert [r[0] for r in rows] == [
        str(tmp_path / "a" / "x.wav"),
        "/abs/y.wav",
        str(tmp_path / "a" / "z.wav"),
    ]
    assert [r[1] for r in rows] == ["hello world", "bye", None]
    assert [r[2] for r in rows] == [1, 3, 4]  # line numbers for messages
    assert [r[1] for r in read_manifest(str(m), with_text=False)] == [None, None, None]


def test_empty_or_missing_manifest_stops_with_a_clear_message(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no utterances"):
        read_manifest(str(empty), with_text=True)
    with pytest.raises(DataError, match="no such manifest"):
        read_manifest(str(tmp_path / "nope.tsv"), with_text=True)


def _bad_manifest(tmp_path):
    tone(tmp_path / "good.wav", 1.0)
    tone(tmp_path / "good2.wav", 1.2)
    (tmp_path / "text.wav").write_text("not audio at all", encoding="utf-8")
    rows = [
        "good.wav\tab ba",
        "missing.wav\tab",
        "text.wav\tab",
        "good2.wav\tabc!",  # '!' and 'c' are outside the vocabulary
        "good.wav\t   ",  # no transcript
        "good2.wav\tba ab",
    ]
    m = tmp_path / "m.tsv"
    m.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(m)


def test_bad_input_is_skipped_with_counts_and_examples(tmp_path):
    m = _bad_manifest(tmp_path)
    items, report = prepare(
        m,
        with_text=True,
        sampling_rate=SR,
        min_samples=400,
        max_samples=None,
        crop=False,
        bad_input="skip",
        encode=encode_with("_ab |"),
        frames=frames,
    )
    assert [u.text for u in items] == ["ab ba", "ba ab"]
    assert items[0].labels == (1, 2, 3, 2, 1)
    assert report.total == 6 and report.kept == 2
    assert report.reasons == {
        "missing file": 1,
        "unreadable audio": 1,
        "out-of-vocabulary characters": 1,
        "no transcript": 1,
    }
    text = report.summary()
    assert "2 of 6 utterances kept" in text
    assert "line 2: missing.wav" in text and "line 3: text.wav" in text
    assert "'!c'" in text  # the offending characters are named


def test_bad_input_error_stops_at_the_first_bad_line(tmp_path):
    m = _bad_manifest(tmp_path)
    with pytest.raises(DataError, match=r"line 2: missing.wav: missing file"):
        prepare(
            m,
            with_text=True,
            sampling_rate=SR,
            min_samples=0,
            max_samples=None,
            crop=False,
            bad_input="error",
            encode=encode_with("_ab |"),
        )


def test_nothing_usable_is_an_error_not_an_empty_run(tmp_path):
    m = tmp_path / "m.tsv"
    m.write_text("missing.wav\thello\n", encoding="utf-8")
    with pytest.raises(DataError, match="no usable utterances.*missing file"):
        prepare(
            str(m),
            with_text=True,
            sampling_rate=SR,
            min_samples=0,
            max_samples=None,
            crop=False,
            bad_input="skip",
        )


def test_length_filters_crop_skip_and_ctc_feasibility(tmp_path):
    tone(tmp_path / "short.wav", 0.1)
    tone(tmp_path / "long.wav", 3.0, sr=8000)  # resampled: 48000 samples at 16 kHz
    tone(tmp_path / "ok.wav", 1.0)
    m = tmp_path / "m.tsv"
    m.write_text("short.wav\ta\nlong.wav\ta\nok.wav\ta\nok.wav\t" + "ab" * 40 + "\n")
    common = dict(
        with_text=True,
        sampling_rate=SR,
        min_samples=2000,
        max_samples=32000,
        bad_input="error",
        encode=encode_with("_ab |"),
        frames=frames,
    )
    items, report = prepare(str(m), crop=False, **common)
    assert [u.path.rsplit("/", 1)[1] for u in items] == ["ok.wav"]
    assert set(report.reasons) == {
        "shorter than 2000 samples",
        "longer than max_sample_size 32000",
        "too short for its transcript under CTC",
    }
    items, report = prepare(str(m), crop=True, **common)
    assert [u.num_samples for u in items] == [32000, 16000] and report.cropped == 1
    assert ctc_min_frames([1, 1, 2]) == 4  # a blank must separate the repeated label


def test_dataset_crops_deterministically_and_reports_undecodable_files(tmp_path):
    tone(tmp_path / "a.wav", 2.0)
    truncated_wav(tmp_path / "t.wav")
    from wav2vec2_conformer.train.data import Utterance

    items = [Utterance(str(tmp_path / "a.wav"), 16000), Utterance(str(tmp_path / "t.wav"), 16000)]
    ds = AudioDataset(items, SR, seed=3, max_samples=16000)
    a, b, c = ds[(0, 0, 0)], ds[(0, 5, 0)], ds[(1, 0, 0)]
    assert len(a["input_values"]) == 16000
    np.testing.assert_array_equal(a["input_values"], b["input_values"])  # same epoch, same crop
    assert not np.array_equal(a["input_values"], c["input_values"])  # next epoch, new crop
    assert abs(a["input_values"].mean()) < 1e-3 and abs(a["input_values"].std() - 1) < 1e-3
    bad = ds[(0, 0, 1)]
    assert "truncated" in bad["error"] and "t.wav" in bad["error"]
    batch = Collator(conv=CONV)([a, bad])
    assert batch["size"] == 1 and len(batch["errors"]) == 1 and batch["indices"] == [0]


def test_speed_perturbation_changes_tempo_and_pitch_per_epoch(tmp_path):
    from wav2vec2_conformer.train.data import Utterance

    tone(tmp_path / "a.wav", 2.0)
    ds = AudioDataset([Utterance(str(tmp_path / "a.wav"), 32000)], SR, seed=1, speed=(0.8, 1.2))
    draws = [ds[(epoch, 0, 0)]["input_values"] for epoch in range(6)]
    np.testing.assert_array_equal(draws[0], ds[(0, 7, 0)]["input_values"])  # same epoch, same f
    assert len({len(w) for w in draws}) == 6  # a new factor each epoch
    for w in draws:
        factor = 32000 / len(w)
        assert 0.8 - 1e-3 <= factor <= 1.2 + 1e-3
        peak = np.argmax(np.abs(np.fft.rfft(w))) * SR / len(w)  # the 220 Hz tone, sped up
        assert abs(peak - 220 * factor) < 2.0
    with pytest.raises(ValueError, match="speed_perturb"):
        FinetuneConfig(speed_perturb=(1.2, 0.9))


def test_batches_respect_the_token_budget_and_keep_padding_small():
    rng = np.random.default_rng(0)
    lengths = rng.integers(16000, 160000, size=200).tolist()
    order = np.argsort(lengths).tolist()
    batches = length_batches(order, lengths, max_tokens=600_000, max_batch_size=8)
    assert sorted(i for b in batches for i in b) == list(range(200))
    for b in batches:
        assert len(b) <= 8 and len(b) * max(lengths[i] for i in b) <= 600_000
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded / sum(lengths) < 1.1  # sorted by length: under 10% padding
    # an utterance longer than the budget still gets a batch of its own
    assert length_batches([0, 1], [10, 50], max_tokens=20, max_batch_size=None) == [[0], [1]]


def test_sampler_is_a_pure_function_of_seed_epoch_and_position():
    lengths = [1000 * (i % 7 + 1) for i in range(30)]
    s = BucketBatchSampler(lengths, max_tokens=12000, seed=5)
    stream = iter(s)
    first = [next(stream) for _ in range(25)]  # crosses epoch boundaries
    epochs = {k[0] for b in first for k in b}
    assert len(epochs) >= 2
    assert s.epoch_batches(0) != s.epoch_batches(1)  # reshuffled each epoch
    # resuming at (epoch, position) replays the same stream
    epoch, pos, _ = first[10][0]
    resumed = iter(BucketBatchSampler(lengths, 12000, seed=5, start=(epoch, pos)))
    assert [next(resumed) for _ in range(15)] == first[10:]
    # two ranks interleave the single-process batch list, padded to equal length
    one = s.epoch_batches(0)
    r0, r1 = (BucketBatchSampler(lengths, 12000, seed=5, rank=r, world_size=2) for r in (0, 1))
    n = len(r0.epoch_batches(0)) // 2
    got0 = [[k[2] for k in b] for b, _ in zip(iter(r0), range(n), strict=False)]
    got1 = [[k[2] for k in b] for b, _ in zip(iter(r1), range(n), strict=False)]
    padded = one + [[]] * (len(one) % 2)
    assert got0 == padded[0::2]
    assert got1 == [b or [-1] for b in padded[1::2]]


def test_pretraining_masks_are_drawn_from_the_batch_position():
    c = Collator(
        pretraining=dict(mask_prob=0.65, mask_length=4, min_masks=2, num_negatives=5),
        conv=CONV,
        seed=1,
    )
    items = [
        {"key": (0, 3, i), "input_values": np.ones(n, np.float32), "labels": None}
        for i, n in enumerate((16000, 9000))
    ]
    a, b = c(items), c(items)
    assert torch.equal(a["mask_time_indices"], b["mask_time_indices"])
    assert torch.equal(a["sampled_negative_indices"], b["sampled_negative_indices"])
    t = frames(16000)
    assert a["mask_time_indices"].shape == (2, t)
    assert a["sampled_negative_indices"].shape == (2, t, 5)
    assert not a["mask_time_indices"][1, frames(9000) :].any()  # never in the padding
    items2 = [dict(it, key=(0, 4, it["key"][2])) for it in items]
    assert not torch.equal(c(items2)["mask_time_indices"], a["mask_time_indices"])


def test_schedules():
    assert tri_stage(0, 100) == pytest.approx(0.01)
    assert tri_stage(10, 100) == 1.0 and tri_stage(49, 100) == 1.0
    assert tri_stage(50, 100) == 1.0 and tri_stage(75, 100) == pytest.approx(math.sqrt(0.05))
    assert tri_stage(100, 100) == pytest.approx(0.05) and tri_stage(500, 100) == 0.05
    assert warmup_decay(0, 100, 9) == pytest.approx(0.1)
    assert warmup_decay(9, 100, 9) == 1.0 and warmup_decay(100, 100, 9) == 0.0
    assert warmup_decay(55, 101, 9, "cosine") == pytest.approx(0.5, abs=0.02)
    assert warmup_decay(80, 100, 9, "constant") == 1.0
    assert gumbel_temperature(0) == 2.0 and gumbel_temperature(10**7) == 0.5
    with pytest.raises(ValueError, match="sum to 1"):
        tri_stage(0, 10, (0.5, 0.5, 0.5))


def test_options_defaults_yaml_then_flags(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text(
        yaml.safe_dump(
            {
                "train": "t.tsv",
                "lr": 0.001,
                "max_updates": 7,
                "model": {"hidden_size": 64, "layerdrop": 0.0},
            }
        )
    )
    cfg = load_config(FinetuneConfig, str(y), max_updates=9, model={"hidden_size": 32})
    assert (cfg.train, cfg.lr, cfg.max_updates) == ("t.tsv", 0.001, 9)
    assert cfg.model == {"hidden_size": 32, "layerdrop": 0.0}  # flags override key by key
    assert cfg.max_tokens == FinetuneConfig().max_tokens
    with pytest.raises(ValueError, match="unknown option.*'lrate'"):
        load_config(FinetuneConfig, None, lrate=1)
    with pytest.raises(ValueError, match="max_updates: expected an integer"):
        load_config(FinetuneConfig, None, max_updates="many")
    with pytest.raises(ValueError, match="precision must be one of"):
        FinetuneConfig(precision="fp8")
    with pytest.raises(ValueError, match="would cut transcripts"):
        FinetuneConfig(long_utterances="crop")
    with pytest.raises(ValueError, match="max_sample_size .* must not exceed max_tokens"):
        PretrainConfig(max_tokens=1000)


def test_cli_flags_and_saved_config_round_trip(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "finetune",
            "--train",
            "t.tsv",
            "--out",
            str(tmp_path),
            "--max-updates",
            "50",
            "--lr",
            "2e-4",
            "--no-freeze-feature-encoder",
            "--phase-ratio",
            "0.2",
            "0.3",
            "0.5",
            "--model",
            "hidden_size=64",
            "layerdrop=0.0",
            "--max-batch-size",
            "none",
            "--speed-perturb",
            "0.9",
            "1.1",
        ]
    )
    cfg = cli.config_from_args(args)
    assert cfg.speed_perturb == (0.9, 1.1)
    assert cfg.max_updates == 50 and cfg.lr == 2e-4 and cfg.freeze_feature_encoder is False
    assert cfg.phase_ratio == (0.2, 0.3, 0.5) and cfg.max_batch_size is None
    assert cfg.model == {"hidden_size": 64, "layerdrop": 0.0}
    path = cfg.save(tmp_path)
    assert load_config(FinetuneConfig, path) == cfg
    pre = cli.config_from_args(parser.parse_args(["pretrain", "--train", "t", "--out", "o"]))
    assert isinstance(pre, PretrainConfig) and pre.mask_prob == 0.65 and pre.mask_length == 10
