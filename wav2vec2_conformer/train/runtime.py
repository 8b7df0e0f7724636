"""Where a run executes: processes (torchrun), device, precision, RNG states, logs and metrics."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import random
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist

logger = logging.getLogger("wav2vec2_conformer.train")


# ----------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Dist:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK), pick the device and join the
    process group: nccl on GPUs, gloo on CPU. Without torchrun: one process, no group."""
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' asked for, but torch sees no GPU")
        # under torchrun each process takes its local GPU; alone, the one named (or the first)
        dev = torch.device(f"cuda:{local}" if world > 1 or ":" not in device else device)
        torch.cuda.set_device(dev)
    elif device == "cpu":
        dev = torch.device("cpu")
    else:
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if world > 1 and not torch_dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        torch_dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return Dist(rank, world, local, dev)


def teardown(dist: Dist) -> None:
    if dist.distributed and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def all_sum(values: list[float], dist: Dist) -> list[float]:
    """Sum a list of numbers over all processes (float64)."""
    if not dist.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=dist.device)
    torch_dist.all_reduce(t)
    return t.tolist()


def all_gather(obj: Any, dist: Dist) -> list[Any]:
    """Every process's `obj`, in rank order (a one-element list without torchrun)."""
    if not dist.distributed:
        return [obj]
    out: list[Any] = [None] * dist.world_size
    torch_dist.all_gather_object(out, obj)
    return out


def barrier(dist: Dist) -> None:
    if dist.distributed:
        torch_dist.barrier()


# ----------------------------------------------------------------------------- precision


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "auto" -> bf16 where the hardware runs it fast (GPUs with bf16, CPUs with AVX512-BF16 or
    AMX), fp16 on older GPUs, else fp32. fp16 is refused on CPU (no speed-up, no scaler)."""
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a GPU; use bf16 or fp32 on CPU")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    cpu = torch.cpu
    fast_bf16 = any(
        getattr(cpu, name, lambda: False)()
        for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )
    return "bf16" if fast_bf16 else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


# ----------------------------------------------------------------------------- random state


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- logging


class _TqdmHandler(logging.StreamHandler):
    """Log lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def setup_logging(out: str, dist: Dist) -> None:
    """Rank 0: INFO to stderr and OUT/train.log; other ranks: warnings only, to stderr."""
    logger.setLevel(logging.INFO if dist.is_main else logging.WARNING)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [_TqdmHandler()]
    if dist.is_main:
        os.makedirs(out, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(out, "train.log"), encoding="utf-8"))
    else:
        fmt = logging.Formatter(f"[rank {dist.rank}] %(levelname)s %(message)s")
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)


class Metrics:
    """Metrics to OUT/metrics.jsonl (one JSON object a line) and, when installed, TensorBoard
    (OUT/tensorboard). Only rank 0 writes; on other ranks every call does nothing."""

    def __init__(self, out: str, dist: Dist, resume_update: int | None = None):
        self.path = os.path.join(out, "metrics.jsonl")
        self.enabled = dist.is_main
        self.tb = None
        if not self.enabled:
            return
        if resume_update is not None:
            self._truncate(resume_update)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(os.path.join(out, "tensorboard"))
        except ImportError:
            logger.info(
                "tensorboard is not installed: TensorBoard logging skipped "
                "(pip install tensorboard); metrics go to %s",
                self.path,
            )

    def _truncate(self, update: int) -> None:
        """Drop lines logged after the checkpoint we resume from (they will be logged again)."""
        if not os.path.exists(self.path):
            return
        from ..fileio import atomic_write_text

        keep = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    if json.loads(line).get("update", 0) <= update:
                        keep.append(line if line.endswith("\n") else line + "\n")
                except json.JSONDecodeError:
                    continue  # a line cut short by the crash
        atomic_write_text(self.path, "".join(keep))

    def write(self, split: str, update: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"split": split, "update": update, **{k: _round(v) for k, v in values.items()}}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{split}/{k}", v, update)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _round(v: Any) -> Any:
    return float(f"{v:.6g}") if isinstance(v, float) else v
