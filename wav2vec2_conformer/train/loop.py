"""The training loop both jobs share: DDP, mixed precision, accumulation, clipping, schedules,
checkpoints and resume, evaluation with the best model kept, logs and the progress bar.

A job (`finetune.CTCJob`, `pretrain.PretrainJob`) supplies the model, an *objective* module whose
`forward(batch, update)` returns summed statistics (`loss` and its normaliser `weight`, e.g.
target characters or masked frames), the data, an evaluation and a way to save the model. The
loop normalises gradients by the global `weight` after accumulation and the all-reduce, so one
process accumulating N batches and N processes with one batch each take the same step.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import math
import os
import re
import sys
import time
from collections import defaultdict
from typing import Any, Protocol

import torch
from torch import nn

from ..fileio import atomic_folder, atomic_path
from . import runtime
from .config import TrainConfig
from .data import AudioDataset, BucketBatchSampler, Collator
from .runtime import Dist, logger
from .schedule import tri_stage, warmup_decay

CHECKPOINT_DIR = "checkpoints"
_CKPT_RE = re.compile(r"^update_(\d+)\.pt$")


class Job(Protocol):
    cfg: TrainConfig
    model: nn.Module  # the Wav2Vec2Conformer* model being trained (saved in checkpoints)
    objective: nn.Module  # forward(batch, update) -> {"loss": sum, "weight": normaliser, ...}
    train_set: AudioDataset
    collator: Collator
    best_metric: str | None  # dev metric (lower is better) that selects OUT/best

    def before_update(self, update: int) -> None: ...
    def train_logs(self, totals: dict[str, float]) -> dict[str, float]: ...
    def evaluate(self, dist: Dist) -> dict[str, float] | None: ...
    def save_model(self, folder: str) -> None: ...


def lr_factor(cfg: TrainConfig, update: int) -> float:
    if cfg.schedule == "tri_stage":
        return tri_stage(
            update, cfg.max_updates, cfg.phase_ratio, cfg.init_lr_scale, cfg.final_lr_scale
        )
    warmup = cfg.warmup_updates if cfg.warmup_updates is not None else int(0.08 * cfg.max_updates)
    return warmup_decay(update, cfg.max_updates, warmup, cfg.decay, cfg.final_lr_scale)


# ----------------------------------------------------------------------------- checkpoints


def checkpoints(out: str) -> list[tuple[int, str]]:
    """(update, path) of the complete training checkpoints in OUT/checkpoints, oldest first."""
    found = []
    for path in glob.glob(os.path.join(out, CHECKPOINT_DIR, "update_*.pt")):
        m = _CKPT_RE.match(os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


def save_checkpoint(out: str, update: int, state: dict[str, Any], keep: int) -> str:
    """Write OUT/checkpoints/update_N.pt atomically (temp file + rename), then drop the oldest
    beyond `keep`. A crash at any moment leaves only complete checkpoints under that name."""
    path = os.path.join(out, CHECKPOINT_DIR, f"update_{update:08d}.pt")
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    for _, old in checkpoints(out)[:-keep]:
        os.remove(old)
    return path


def remove_stale_temporaries(out: str) -> None:
    """Temp files a killed process left behind (never complete checkpoints)."""
    for pattern in (".update_*.tmp", ".*.tmp"):
        for path in glob.glob(os.path.join(out, CHECKPOINT_DIR, pattern)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def check_out(cfg: TrainConfig) -> None:
    """Refuse to start a new run over an earlier one's checkpoints."""
    if checkpoints(cfg.out) and not cfg.resume:
        raise ValueError(
            f"{cfg.out} already holds checkpoints of a run; pass --resume to continue it, "
            "or choose another --out"
        )


def save_model_dir(job: Job, folder: str) -> None:
    """Save an HF-layout model folder whole: write a sibling temp folder, then swap it in."""
    with atomic_folder(folder) as tmp:
        job.save_model(tmp)


# ----------------------------------------------------------------------------- the loop


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()
    }


def first_good_batch(job: Job) -> dict[str, Any]:
    """A batch of one loadable utterance: the stand-in for a process that has no batch."""
    for i in range(len(job.train_set)):
        batch = job.collator([job.train_set[(0, 0, i)]])
        if batch["size"]:
            return batch
    raise ValueError("no training utterance could be loaded")


def restore(cfg: TrainConfig, dist: Dist, parts: dict[str, Any]) -> tuple[int, tuple, Any]:
    """With --resume, load the newest checkpoint into `parts` (model, optimizer, scheduler,
    scaler) and this rank's RNG state; return (update, data position, best dev result)."""
    found = checkpoints(cfg.out)
    if cfg.resume and dist.is_main:
        remove_stale_temporaries(cfg.out)
    if not cfg.resume:
        return 0, (0, 0), None
    if not found:
        logger.info("--resume: no checkpoint in %s yet, starting from scratch", cfg.out)
        return 0, (0, 0), None
    path = found[-1][1]
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file
    for name, part in parts.items():
        part.load_state_dict(state[name])
    if state["world_size"] != dist.world_size:
        logger.warning(
            "resuming a %d-process run with %d processes: the data order and RNG streams "
            "differ from the original run",
            state["world_size"],
            dist.world_size,
        )
    runtime.set_rng_state(state["rng"][dist.rank % len(state["rng"])])
    update, position = state["update"], tuple(state["position"])
    logger.info("resumed from %s (update %d, epoch %d, batch %d)", path, update, *position)
    return update, position, state.get("best")


def train_loader(job: Job, dist: Dist, position: tuple[int, int]) -> torch.utils.data.DataLoader:
    cfg = job.cfg
    sampler = BucketBatchSampler(
        [u.num_samples for u in job.train_set.items],
        cfg.max_tokens,
        cfg.max_batch_size,
        cfg.seed,
        dist.rank,
        dist.world_size,
        start=position,
    )
    return torch.utils.data.DataLoader(
        job.train_set,
        batch_sampler=sampler,
        collate_fn=job.collator,
        num_workers=cfg.num_workers,
        generator=torch.Generator(),  # its own: iterating leaves the global RNG alone
        pin_memory=dist.device.type == "cuda",
        prefetch_factor=4 if cfg.num_workers else None,
    )


def train(job: Job, dist: Dist) -> dict[str, Any]:
    """Run `job` to `cfg.max_updates`; returns the last train and dev metrics and the best."""
    cfg, out, device = job.cfg, job.cfg.out, dist.device
    check_out(cfg)
    precision = runtime.resolve_precision(cfg.precision, device)
    model = job.model.to(device).train()
    objective = job.objective.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(lr_factor, cfg))
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    update, position, best = restore(cfg, dist, parts)
    metrics = runtime.Metrics(out, dist, resume_update=update if cfg.resume else None)
    ddp = objective
    if dist.distributed:
        # find_unused_parameters: layerdrop, a frozen-encoder phase and the never-applied
        # positional conv leave parameters without gradients in some or all steps
        ddp = nn.parallel.DistributedDataParallel(
            objective,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    loader = train_loader(job, dist, position)
    batches = iter(loader)
    logger.info(
        "training %s (%.2fM parameters, %.2fM trainable) on %s x%d, %s, lr %g, %d batches per "
        "epoch per process, %d accumulated per update",
        type(model).__name__,
        sum(p.numel() for p in model.parameters()) / 1e6,
        sum(p.numel() for p in params) / 1e6,
        device,
        dist.world_size,
        precision,
        cfg.lr,
        loader.batch_sampler.batches_per_epoch(),
        cfg.grad_accum,
    )
    from tqdm import tqdm

    bar = tqdm(
        total=cfg.max_updates,
        initial=update,
        unit="upd",
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        disable=not (dist.is_main and cfg.progress),
    )
    window: dict[str, float] = defaultdict(float)
    window_start, dummy, last_train, last_dev = time.time(), None, {}, {}
    reported: set[str] = set()
    while update < cfg.max_updates:
        job.before_update(update)

        # --- forward/backward over grad_accum batches; DDP syncs gradients on the last one
        totals: dict[str, float] = defaultdict(float)
        for micro in range(cfg.grad_accum):
            batch = next(batches)
            position = (batch["epoch"], batch["position"] + 1)
            for error in set(batch["errors"]) - reported:
                logger.warning("skipped an utterance: %s", error)
            reported.update(batch["errors"])
            totals["skipped"] += len(batch["errors"])
            weight = 1.0
            if batch["size"] == 0:  # padding batch, or every file failed: a zero-weight stand-in
                dummy = dummy or first_good_batch(job)
                batch, weight = dummy, 0.0
            dummy = dummy or batch
            last = micro == cfg.grad_accum - 1 or not dist.distributed
            with contextlib.nullcontext() if last else ddp.no_sync():
                with runtime.autocast(precision, device):
                    stats = ddp(_to(batch, device), update)
                scaler.scale(stats["loss"] * weight).backward()
            for k, v in stats.items():
                totals[k] += float(v.detach()) * weight
            totals["samples"] += batch.get("samples", 0) * weight

        # --- one optimizer step on the gradient of (loss summed everywhere / global weight)
        keys = sorted(totals)
        totals = dict(zip(keys, runtime.all_sum([totals[k] for k in keys], dist), strict=True))
        scaler.unscale_(optimizer)
        if totals["weight"] > 0:
            scale = dist.world_size / totals["weight"]  # DDP averaged over processes: undo it
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(scale)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm or math.inf))
        if math.isfinite(grad_norm) or scaler.is_enabled():
            scaler.step(optimizer)  # with fp16 the scaler itself skips steps with inf/nan
        else:
            logger.warning("update %d: non-finite gradient norm, step skipped", update + 1)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        lr = scheduler.get_last_lr()[0]
        scheduler.step()
        update += 1
        bar.update(1)
        done = update == cfg.max_updates

        # --- logs, dev evaluation with the best model kept, checkpoints
        for k, v in totals.items():
            window[k] += v
        window["grad_norm"] += grad_norm
        window["updates"] += 1
        if update % cfg.log_every == 0 or done:
            last_train = job.train_logs(window)
            last_train.update(
                lr=lr,
                grad_norm=window["grad_norm"] / window["updates"],
                epoch=position[0],
                audio_s_per_s=window["samples"] / cfg.sampling_rate / (time.time() - window_start),
                skipped=int(window["skipped"]),
            )
            if scaler.is_enabled():
                last_train["loss_scale"] = scaler.get_scale()
            metrics.write("train", update, last_train)
            bar.set_postfix(
                loss=f"{last_train['loss']:.3f}",
                lr=f"{lr:.2e}",
                audio_s_per_s=f"{last_train['audio_s_per_s']:.1f}",
            )
            window, window_start = defaultdict(float), time.time()
        if cfg.dev and ((cfg.eval_every and update % cfg.eval_every == 0) or done):
            last_dev = job.evaluate(dist) or {}
            if dist.is_main and last_dev:
                best = record_dev(job, metrics, update, last_dev, best)
            best = runtime.all_gather(best, dist)[0]
        if update % cfg.save_every == 0 or done:
            rngs = runtime.all_gather(runtime.rng_state(), dist)  # every rank's
            if dist.is_main:
                state = {name: part.state_dict() for name, part in parts.items()}
                state.update(
                    update=update,
                    position=position,
                    best=best,
                    rng=rngs,
                    world_size=dist.world_size,
                    config=cfg.to_dict(),
                )
                logger.info("saved %s", save_checkpoint(out, update, state, cfg.keep_checkpoints))
            runtime.barrier(dist)
    bar.close()
    if dist.is_main:
        save_model_dir(job, os.path.join(out, "final"))
        logger.info("saved the final model to %s", os.path.join(out, "final"))
    metrics.close()
    runtime.barrier(dist)
    return {"train": last_train, "dev": last_dev, "best": best}


def record_dev(job: Job, metrics: runtime.Metrics, update: int, dev: dict, best: Any) -> Any:
    """Log a dev result; save OUT/best when it beats the best so far. Returns the best."""
    metrics.write("dev", update, dev)
    logger.info("dev @ %d: %s", update, ", ".join(f"{k} {v:.4g}" for k, v in dev.items()))
    metric = job.best_metric
    if metric and metric in dev and (best is None or dev[metric] < best[metric]):
        best = {"update": update, metric: dev[metric]}
        folder = os.path.join(job.cfg.out, "best")
        save_model_dir(job, folder)
        logger.info("new best dev %s %.4g: saved %s", metric, dev[metric], folder)
    return best


def launch(cfg: TrainConfig, make_job: Any) -> dict[str, Any]:
    """Set up the process group, logging, threads and seeds, build `make_job(cfg, dist)`, save
    the effective options (rank 0) and train. Under torchrun every process calls this."""
    cfg.check_paths()
    check_out(cfg)
    dist = runtime.setup(cfg.device)
    try:
        runtime.setup_logging(cfg.out, dist)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if dist.device.type == "cpu":
            # Denormal floats (tiny gradients, Adam's second moments) are slow on x86 CPUs;
            # flushing them to zero changes nothing a model can learn from.
            torch.set_flush_denormal(True)
        runtime.seed_everything(cfg.seed + dist.rank)
        job = make_job(cfg, dist)
        if dist.is_main:
            job.cfg.save(cfg.out)
        return train(job, dist)
    finally:
        runtime.teardown(dist)
