"""Training data: manifests, checks with counted skips, on-the-fly loading, length-bucketed batches.

A manifest is a text file with one utterance a line: `path<TAB>transcript` for fine-tuning,
`path` (anything after a tab is ignored) for pre-training; relative paths are relative to the
manifest's folder; blank lines are skipped. Audio lengths come from the file headers at start-up
(`soundfile.info`, no decoding); the audio itself is decoded, resampled and normalised in
DataLoader workers.

Batches hold at most `max_tokens` audio samples *including padding* (`batch size x longest`),
built from length-sorted utterances so padding stays small; the order of the batches is
shuffled each epoch from `(seed, epoch)`. Every draw here is a pure function of the seed, the
epoch and the batch position, so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf
import torch

from ..audio import AudioError, load_audio, resample
from ..augment import parselmouth_module, shift_formants
from ..feature_extraction import Wav2Vec2FeatureExtractor
from ..masking import compute_mask_indices, sample_negative_indices

logger = logging.getLogger("wav2vec2_conformer.train")

Key = tuple[int, int, int]  # (epoch, batch position in this rank's epoch, utterance index or -1)


class DataError(ValueError):
    """Training data that cannot be used; the message says which file or line and why."""


@dataclass(frozen=True)
class Utterance:
    path: str
    num_samples: int  # at the model's rate, from the header (cropped length if cropped)
    text: str | None = None
    labels: tuple[int, ...] | None = None  # token ids of `text`


@dataclass
class DataReport:
    """What was dropped or changed while reading a manifest, by reason, with examples."""

    manifest: str
    total: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    cropped: int = 0

    def add(self, reason: str, example: str) -> None:
        self.reasons[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(example)

    def summary(self) -> str:
        text = f"{self.manifest}: {self.kept} of {self.total} utterances kept"
        if self.cropped:
            text += f", {self.cropped} cropped to max_sample_size"
        for reason, n in self.reasons.most_common():
            text += f"; skipped {n} ({reason}), e.g. {'; '.join(self.examples[reason])}"
        return text


# Reasons that are bad input (as opposed to length filtering): `bad_input="error"` stops on them.
BAD_INPUT = ("missing file", "unreadable audio", "no transcript", "out-of-vocabulary characters")


def read_manifest(path: str, with_text: bool) -> list[tuple[str, str | None, int]]:
    """(absolute audio path, transcript or None, line number) for each non-blank line."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read manifest ({e})") from None
    root = os.path.dirname(os.path.abspath(path))
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        audio, tab, text = line.partition("\t")
        audio = os.path.join(root, os.path.expanduser(audio.strip()))
        rows.append((audio, text if (with_text and tab) else None, n))
    if not rows:
        raise DataError(f"{path}: the manifest holds no utterances")
    return rows


def probe(path: str, sampling_rate: int) -> tuple[int, str | None]:
    """Samples at `sampling_rate` per the file header, or (0, reason) when unusable."""
    if not os.path.exists(path):
        return 0, "missing file"
    try:
        info = sf.info(path)
    except Exception as e:  # soundfile raises its own types for non-audio and corrupt headers
        reason = str(e).replace(f"Error opening {path!r}: ", "")
        return 0, f"unreadable audio: {' '.join(reason.split())[:120]}"
    if info.frames <= 0:
        return 0, "unreadable audio: contains no audio samples"
    return round(info.frames * sampling_rate / info.samplerate), None


def prepare(
    manifest: str,
    *,
    with_text: bool,
    sampling_rate: int,
    min_samples: int,
    max_samples: int | None,
    crop: bool,
    bad_input: str,
    encode: Callable[[str], tuple[list[int], list[str]]] | None = None,
    frames: Callable[[int], int] | None = None,
) -> tuple[list[Utterance], DataReport]:
    """Read, probe and filter a manifest.

    `encode(text) -> (ids, unknown_chars)` turns transcripts into labels; `frames(samples)` is
    the model's output length, used to drop utterances too short for their transcript under
    CTC. With `bad_input="error"` the first bad-input reason raises a `DataError`."""
    rows = read_manifest(manifest, with_text)
    report = DataReport(manifest, total=len(rows))
    with ThreadPoolExecutor(8) as pool:
        probed = list(pool.map(lambda r: probe(r[0], sampling_rate), rows))
    kept = []
    for (path, text, line), (n, error) in zip(rows, probed, strict=True):
        where = f"line {line}: {os.path.basename(path)}"
        reason, labels = None, None
        if error is not None:
            reason, detail = error.split(":", 1)[0], error
            where += "" if error == "missing file" else f" ({detail.split(': ', 1)[-1]})"
        elif with_text:
            text = " ".join((text or "").split())
            if not text:
                reason = "no transcript"
            elif encode is not None:
                ids, unknown = encode(text)
                if unknown:
                    reason = "out-of-vocabulary characters"
                    where += f" ({''.join(sorted(set(unknown)))!r})"
                labels = tuple(ids)
        if reason is None and n < min_samples:
            reason = f"shorter than {min_samples} samples"
        if reason is None and max_samples is not None and n > max_samples:
            if crop:
                report.cropped += 1
                n = max_samples
            else:
                reason = f"longer than max_sample_size {max_samples}"
        if reason is None and frames is not None and labels is not None:
            if frames(n) < ctc_min_frames(labels):
                reason = "too short for its transcript under CTC"
        if reason is not None:
            if bad_input == "error" and reason in BAD_INPUT:
                raise DataError(f"{manifest}: {where}: {reason} (bad_input='error' stops here)")
            report.add(reason, where)
            continue
        kept.append(Utterance(path, n, text, labels))
    report.kept = len(kept)
    if not kept:
        raise DataError(f"no usable utterances. {report.summary()}")
    return kept, report


def ctc_min_frames(labels: Sequence[int]) -> int:
    """Frames CTC needs for a label sequence: one per label plus a blank between repeats."""
    repeats = sum(1 for a, b in zip(labels, labels[1:], strict=False) if a == b)
    return len(labels) + repeats


# ----------------------------------------------------------------------------- batches


def length_batches(
    order: Sequence[int], lengths: Sequence[int], max_tokens: int, max_batch_size: int | None
) -> list[list[int]]:
    """Greedy batches over `order` (length-sorted indices): a batch grows while
    `size x longest <= max_tokens` and `size <= max_batch_size`."""
    batches, current, longest = [], [], 0
    for i in order:
        n = lengths[i]
        grown = max(longest, n)
        full = max_batch_size is not None and len(current) >= max_batch_size
        if current and (grown * (len(current) + 1) > max_tokens or full):
            batches.append(current)
            current, grown = [], n
        current.append(i)
        longest = grown
    if current:
        batches.append(current)
    return batches


class BucketBatchSampler:
    """An endless stream of this rank's training batches, epoch after epoch.

    Each epoch's global batch list is a function of `(seed, epoch)` only: length-sorted
    utterances (ties broken at random) cut into batches, the batch order shuffled, padded with
    empty batches to a multiple of `world_size`; rank r takes batches r, r + world_size, ...
    so N processes see the same batches as one process accumulating N batches per update.
    Yields lists of keys `(epoch, position, index)`; an empty batch is `[(epoch, position, -1)]`.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_tokens: int,
        max_batch_size: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start: tuple[int, int] = (0, 0),
    ):
        self.lengths = list(lengths)
        self.max_tokens, self.max_batch_size = max_tokens, max_batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.start = start

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng((self.seed, epoch))
        tie_break = rng.permutation(len(self.lengths))
        order = tie_break[np.argsort(np.asarray(self.lengths)[tie_break], kind="stable")]
        batches = length_batches(order.tolist(), self.lengths, self.max_tokens, self.max_batch_size)
        batches = [batches[i] for i in rng.permutation(len(batches))]
        batches += [[] for _ in range(-len(batches) % self.world_size)]
        return batches

    def batches_per_epoch(self) -> int:
        return len(self.epoch_batches(0)) // self.world_size

    def __iter__(self) -> Iterator[list[Key]]:
        epoch, position = self.start
        while True:
            mine = self.epoch_batches(epoch)[self.rank :: self.world_size]
            for pos in range(position, len(mine)):
                yield [(epoch, pos, i) for i in mine[pos]] or [(epoch, pos, -1)]
            epoch, position = epoch + 1, 0


def eval_batches(
    lengths: Sequence[int], max_tokens: int, max_batch_size: int | None, rank: int, world_size: int
) -> list[list[Key]]:
    """This rank's share of length-sorted evaluation batches (no shuffling, no padding)."""
    order = np.argsort(np.asarray(lengths), kind="stable").tolist()
    batches = length_batches(order, lengths, max_tokens, max_batch_size)
    return [[(0, pos, i) for i in b] for pos, b in enumerate(batches)][rank::world_size]


def eval_loader(dataset, collator, cfg, rank: int, world_size: int, num_workers: int):
    """A DataLoader over this rank's evaluation batches of `dataset` (see `eval_batches`)."""
    keys = eval_batches(
        [u.num_samples for u in dataset.items], cfg.max_tokens, cfg.max_batch_size, rank, world_size
    )
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=keys,
        collate_fn=collator,
        num_workers=min(num_workers, len(keys)),
        generator=torch.Generator(),  # its own: iterating leaves the global RNG alone
    )


# ----------------------------------------------------------------------------- loading


class AudioDataset(torch.utils.data.Dataset):
    """`dataset[(epoch, position, index)]` -> normalised waveform (and labels) of one utterance.

    With `speed` = (low, high), each utterance is played f times faster, f drawn uniformly from
    [low, high] per `(seed, epoch, index)`: resampling by f shortens it to 1/f of its samples
    and raises its pitch and formants by f (sox `speed`), a cheap stand-in for new speakers.
    Batches are cut from the unperturbed lengths, so one may hold up to max_tokens / low samples.
    With `formants` = (low, high), a share `formant_prob` of the utterances (drawn the same way)
    then get their formants moved by a ratio from [low, high] at unchanged pitch and length
    (`augment.shift_formants`): with speed perturbation, new pitch-formant pairs.
    Crops of over-long utterances start at an offset drawn from `(seed, epoch, index)`.
    A file that fails to decode gives `{"error": message}` instead of raising, so one bad file
    does not stop a run; the training loop counts and logs it."""

    def __init__(
        self,
        items: Sequence[Utterance],
        sampling_rate: int,
        seed: int = 0,
        max_samples: int | None = None,
        speed: tuple[float, float] | None = None,
        formants: tuple[float, float] | None = None,
        formant_prob: float = 0.5,
    ):
        self.items = list(items)
        self.sampling_rate, self.seed, self.max_samples = sampling_rate, seed, max_samples
        self.speed, self.formants, self.formant_prob = speed, formants, formant_prob
        if formants is not None:
            parselmouth_module()  # fail now, not in a worker

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: Key) -> dict[str, Any]:
        epoch, _, index = key
        if index < 0:
            return {"key": key}
        u = self.items[index]
        try:
            wav = load_audio(u.path, self.sampling_rate)
        except AudioError as e:
            return {"key": key, "error": str(e)}
        rng = np.random.default_rng((self.seed, epoch, index))
        if self.speed is not None:
            factor = float(rng.uniform(*self.speed))
            wav = resample(wav, round(self.sampling_rate * factor), self.sampling_rate)
        if self.formants is not None and rng.random() < self.formant_prob:
            ratio, seed = float(rng.uniform(*self.formants)), int(rng.integers(2**31))
            wav = shift_formants(wav, self.sampling_rate, ratio, seed)
        if self.max_samples is not None and len(wav) > self.max_samples:
            start = int(rng.integers(0, len(wav) - self.max_samples + 1))
            wav = wav[start : start + self.max_samples]
        wav = Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm([wav], None)[0]
        return {"key": key, "input_values": wav, "labels": u.labels}


@dataclass
class Collator:
    """Pad a list of dataset items into a batch of tensors.

    input_values (B, S) float32, zero-padded; attention_mask (B, S) int64, 1 on real samples;
    labels (B, U) int64, -100-padded (fine-tuning). With `pretraining` set, also
    mask_time_indices (B, T) bool and sampled_negative_indices (B, T, K) from a generator seeded
    by `(seed, epoch, position)`, computed here so workers do it in parallel."""

    pretraining: dict[str, Any] | None = None  # mask_prob, mask_length, min_masks, num_negatives
    conv: tuple[tuple[int, int], ...] = ()  # (kernel, stride) per feature-encoder conv
    seed: int = 0

    def frames(self, samples: torch.Tensor) -> torch.Tensor:
        for k, s in self.conv:
            samples = torch.div(samples - k, s, rounding_mode="floor") + 1
        return samples

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        epoch, position, _ = items[0]["key"]
        good = [it for it in items if "input_values" in it]
        batch: dict[str, Any] = {
            "epoch": epoch,
            "position": position,
            "errors": [it["error"] for it in items if "error" in it],
            "size": len(good),
            "indices": [it["key"][2] for it in good],
        }
        if not good:
            return batch
        longest = max(len(it["input_values"]) for it in good)
        values = torch.zeros(len(good), longest)
        mask = torch.zeros(len(good), longest, dtype=torch.long)
        for i, it in enumerate(good):
            n = len(it["input_values"])
            values[i, :n] = torch.from_numpy(it["input_values"])
            mask[i, :n] = 1
        batch.update(input_values=values, attention_mask=mask, samples=int(mask.sum()))
        if good[0]["labels"] is not None:
            width = max(len(it["labels"]) for it in good)
            labels = torch.full((len(good), width), -100, dtype=torch.long)
            for i, it in enumerate(good):
                labels[i, : len(it["labels"])] = torch.tensor(it["labels"], dtype=torch.long)
            batch["labels"] = labels
        if self.pretraining is not None:
            batch.update(self.masks(mask, np.random.default_rng((self.seed, epoch, position))))
        return batch

    def masks(self, attention_mask: torch.Tensor, rng: np.random.Generator) -> dict[str, Any]:
        p = self.pretraining
        lengths = self.frames(attention_mask.sum(-1))
        shape = (attention_mask.shape[0], int(self.frames(torch.tensor(attention_mask.shape[1]))))
        valid = torch.arange(shape[1])[None, :] < lengths[:, None]  # (B, T)
        mask = compute_mask_indices(
            shape, p["mask_prob"], p["mask_length"], valid, p["min_masks"], rng
        )
        negatives = sample_negative_indices(shape, p["num_negatives"], mask, rng)
        return {
            "mask_time_indices": torch.from_numpy(mask),
            "sampled_negative_indices": torch.from_numpy(negatives.astype(np.int64)),
        }
