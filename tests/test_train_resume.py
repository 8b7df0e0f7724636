"""Resume: a run killed with SIGKILL and resumed ends where an uninterrupted run ends; checkpoints
are never half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from train_utils import TEST_MODEL, corpus, finetune_argv

from wav2vec2_conformer.train import loop


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("speech"))


def command(manifest, out, *extra):
    return [
        sys.executable,
        "-m",
        "wav2vec2_conformer.train.cli",
        *finetune_argv(
            manifest,
            out,
            "--model",
            *[f"{k}={v}" for k, v in TEST_MODEL.items()],
            # randomness everywhere: dropout, layerdrop, SpecAugment, shuffled batches over epochs
            "--layerdrop",
            "0.2",
            "--speed-perturb",
            "0.9",
            "1.1",
            "--mask-time-prob",
            "0.3",
            "--mask-time-length",
            "3",
            "--max-batch-size",
            "2",
            "--lr",
            "2e-3",
            "--max-updates",
            "14",
            "--save-every",
            "3",
            "--eval-every",
            "5",
            "--log-every",
            "1",
            "--num-workers",
            "1",
            "--precision",
            "fp32",
            "--threads",
            "1",
            "--no-progress",
            *extra,
        ),
    ]


def losses(out):
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["split"], r["update"], r["loss"]) for r in rows]


def test_killed_and_resumed_run_matches_an_uninterrupted_one(manifest, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(command(manifest, whole), check=True, capture_output=True)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        command(manifest, cut), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (cut / "metrics.jsonl").exists() and any(
            json.loads(line)["update"] >= 8
            for line in (cut / "metrics.jsonl").open()
            if line.strip()
        ):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = loop.checkpoints(str(cut))
    assert done and done[-1][0] < 14
    for _, path in done:  # whatever the moment of the kill: complete checkpoints only
        torch.load(path, map_location="cpu", weights_only=False)

    r = subprocess.run(command(manifest, cut, "--resume"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"resumed from {done[-1][1]}" in r.stderr
    assert not [p for p in os.listdir(cut / "checkpoints") if p.endswith(".tmp")]
    a = load_file(whole / "final" / "model.safetensors")
    b = load_file(cut / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=k)
    # the metrics log reads as one run: no duplicate or missing updates, same losses
    got, want = losses(cut), losses(whole)
    assert [x[:2] for x in got] == [x[:2] for x in want]
    for (_, _, x), (_, _, y) in zip(got, want, strict=True):
        assert x == pytest.approx(y, rel=1e-4)


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    out = str(tmp_path)
    loop.save_checkpoint(out, 3, {"w": torch.ones(3)}, keep=2)

    def crash(obj, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # any interruption mid-write

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        loop.save_checkpoint(out, 6, {"w": torch.zeros(3)}, keep=2)
    monkeypatch.undo()
    assert [u for u, _ in loop.checkpoints(out)] == [3]  # no update_6, and no temp file
    assert os.listdir(tmp_path / "checkpoints") == ["update_00000003.pt"]
    # a temp file left by a SIGKILL is not a checkpoint and is cleared on resume
    stale = tmp_path / "checkpoints" / ".update_00000006.pt.abc123.tmp"
    stale.write_bytes(b"partial")
    assert [u for u, _ in loop.checkpoints(out)] == [3]
    loop.remove_stale_temporaries(out)
    assert not stale.exists()
    for u in (6, 9, 12):
        loop.save_checkpoint(out, u, {"u": u}, keep=2)
    assert [u for u, _ in loop.checkpoints(out)] == [9, 12]
