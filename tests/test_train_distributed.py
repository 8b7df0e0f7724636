"""torchrun with 2 CPU processes (gloo) takes the same steps as 1 process with the same global
batch (2 batches accumulated per update)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from train_utils import NO_RANDOMNESS, TEST_MODEL, corpus


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("speech"))


def args(manifest, out, accum):
    model = {**TEST_MODEL, **NO_RANDOMNESS}
    return [
        "-m",
        "wav2vec2_conformer.train.cli",
        "finetune",
        "--train",
        str(manifest),
        "--out",
        str(out),
        "--model",
        *[f"{k}={v}" for k, v in model.items()],
        "--max-batch-size",
        "3",
        "--grad-accum",
        str(accum),
        "--lr",
        "2e-3",
        "--max-updates",
        "8",
        "--log-every",
        "1",
        "--num-workers",
        "0",
        "--precision",
        "fp32",
        "--threads",
        "1",
        "--no-progress",
    ]


def train_losses(out):
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"]


def test_two_processes_match_one_process_with_the_same_global_batch(manifest, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, *args(manifest, one, accum=2)], check=True, capture_output=True)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            *args(manifest, two, accum=1),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    log = (two / "train.log").read_text()
    assert "on cpu x2" in log and "[rank 1]" not in log  # rank 0 alone writes logs
    a, b = train_losses(one), train_losses(two)
    assert len(a) == len(b) == 8
    assert b == pytest.approx(a, rel=1e-4)
    assert a[-1] < a[0]
    wa = load_file(one / "final" / "model.safetensors")
    wb = load_file(two / "final" / "model.safetensors")
    # BatchNorm running statistics differ by design (DDP keeps rank 0's); parameters must not
    for k in wa:
        if "running_" in k or "num_batches_tracked" in k:
            continue
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=1e-5, msg=k)
