"""CTC fine-tuning: `finetune(FinetuneConfig(train=..., dev=..., out=...))` or `w2vc finetune`.

The model is `--init` (a pre-trained or fine-tuned HF-layout folder) or a fresh `--preset`
model. The vocabulary is `--vocab`, else `--init`'s vocab.json, else built from the training
transcripts (characters, `|` for spaces). The loss is CTC summed over utterances and
normalised by the number of target characters in the update. The feature encoder stays frozen
when starting from `--init` (a fresh model trains it), and the whole encoder for the first
`freeze_encoder_updates` updates.

Outputs in OUT: train_config.yaml, vocab.json, train.log, metrics.jsonl, checkpoints/ (for
--resume), best/ (lowest dev CER or WER) and final/ - HF-layout folders with config.json,
model.safetensors and the processor files, loadable by `Wav2Vec2ConformerForCTC.from_pretrained`
and `Wav2Vec2Processor.from_pretrained`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jiwer
import torch
from torch import nn

from ..ctc_text import build_vocab
from ..decoding import CTCVocab, greedy_decode
from ..feature_extraction import Wav2Vec2FeatureExtractor
from ..heads import Wav2Vec2ConformerForCTC
from ..losses import ctc_loss
from ..presets import preset_config
from ..processor import Wav2Vec2Processor
from ..tokenizer import Wav2Vec2CTCTokenizer
from . import runtime
from .config import FinetuneConfig
from .data import AudioDataset, Collator, DataError, eval_loader, prepare, read_manifest
from .loop import launch
from .runtime import Dist, logger

LR_FROM_PRETRAINED = 5e-5
LR_FRESH = 1e-3


class CTCObjective(nn.Module):
    """Summed CTC loss of a batch and its normaliser (target characters). For the first
    `freeze_encoder_updates` updates the encoder runs without gradients: only the head learns."""

    def __init__(self, model: Wav2Vec2ConformerForCTC, freeze_encoder_updates: int = 0):
        super().__init__()
        self.model = model
        self.freeze_encoder_updates = freeze_encoder_updates

    def forward(self, batch: dict[str, Any], update: int) -> dict[str, torch.Tensor]:
        m, labels = self.model, batch["labels"]
        frozen = update < self.freeze_encoder_updates
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            out = m.wav2vec2_conformer(
                batch["input_values"], attention_mask=batch["attention_mask"]
            )
        logits = m.lm_head(m.dropout(out.last_hidden_state))  # (B, T, V), as the head's forward
        frames = m.feat_extract_output_lengths(batch["attention_mask"].sum(-1)).long()
        blank = m.config.pad_token_id
        loss = ctc_loss(logits, labels, frames, blank, reduction="sum", zero_infinity=True)
        chars = ((labels != -100) & (labels != blank)).sum()
        return {"loss": loss, "weight": chars.float(), "utterances": torch.tensor(labels.shape[0])}


def load_tokenizer(cfg: FinetuneConfig, texts: list[str]) -> Wav2Vec2CTCTokenizer:
    """--vocab, else a vocab.json saved in OUT by an earlier start of this run, else --init's,
    else one built from `texts`."""
    saved = os.path.join(cfg.out, "vocab.json")
    for source in (cfg.vocab, saved if cfg.resume else None, cfg.init):
        if not source:
            continue
        path = os.path.join(source, "vocab.json") if os.path.isdir(source) else source
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                vocab = json.load(f)
            logger.info("vocabulary: %d tokens from %s", len(vocab), path)
            return Wav2Vec2CTCTokenizer(vocab=vocab, do_lower_case=cfg.do_lower_case)
        if source == cfg.vocab:
            raise ValueError(f"--vocab {cfg.vocab}: no vocab.json there")
    vocab = build_vocab(texts, do_lower_case=cfg.do_lower_case)
    logger.info("vocabulary: %d tokens built from the training transcripts", len(vocab))
    return Wav2Vec2CTCTokenizer(vocab=vocab, do_lower_case=cfg.do_lower_case)


def build_model(cfg: FinetuneConfig, tokenizer: Wav2Vec2CTCTokenizer) -> Wav2Vec2ConformerForCTC:
    overrides: dict[str, Any] = dict(cfg.model)
    for name in (
        "layerdrop",
        "mask_time_prob",
        "mask_time_length",
        "mask_feature_prob",
        "mask_feature_length",
    ):
        if getattr(cfg, name) is not None:
            overrides[name] = getattr(cfg, name)
    overrides.update(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    if cfg.init:
        from ..config import Wav2Vec2ConformerConfig

        old = Wav2Vec2ConformerConfig.from_pretrained(cfg.init).vocab_size
        model = Wav2Vec2ConformerForCTC.from_pretrained(
            cfg.init, ignore_mismatched_sizes=old not in (None, len(tokenizer)), **overrides
        )
    else:
        model = Wav2Vec2ConformerForCTC(preset_config(cfg.preset, **overrides))
    model.train()
    freeze = cfg.freeze_feature_encoder
    if freeze or (freeze is None and cfg.init):  # a fresh model must learn its features
        model.freeze_feature_encoder()
    model.mask_padding_in_convs(cfg.mask_conv_padding)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def encoder(tokenizer: Wav2Vec2CTCTokenizer):
    vocab = tokenizer.get_vocab()

    def encode(text: str) -> tuple[list[int], list[str]]:
        tokens = tokenizer.tokenize(text)
        return tokenizer.convert_tokens_to_ids(tokens), [t for t in tokens if t not in vocab]

    return encode


class CTCJob:
    best_metric: str | None

    def __init__(self, cfg: FinetuneConfig, dist: Dist):
        self.dist = dist
        texts = [t for _, t, _ in read_manifest(cfg.train, with_text=True) if t]
        self.tokenizer = load_tokenizer(cfg, texts)
        self.model = build_model(cfg, self.tokenizer)
        if cfg.lr is None:
            cfg = cfg.replace(lr=LR_FROM_PRETRAINED if cfg.init else LR_FRESH)
        self.cfg = cfg
        self.objective = CTCObjective(self.model, cfg.freeze_encoder_updates)
        self.best_metric = cfg.best_metric
        c = self.model.config
        self.conv = tuple(zip(c.conv_kernel, c.conv_stride, strict=True))
        common = dict(
            with_text=True,
            sampling_rate=cfg.sampling_rate,
            bad_input=cfg.bad_input,
            encode=encoder(self.tokenizer),
            frames=self.model.feat_extract_output_lengths,
            min_samples=max(cfg.min_sample_size, c.receptive_field),
        )
        items, report = prepare(cfg.train, max_samples=cfg.max_sample_size, crop=False, **common)
        logger.info("train data: %s", report.summary())
        self.train_set = AudioDataset(items, cfg.sampling_rate, cfg.seed, **cfg.augmentation())
        self.collator = Collator(conv=self.conv, seed=cfg.seed)
        self.dev_set = None
        if cfg.dev:
            self.dev_set = self.dev_data(cfg, common)
        self.vocab = CTCVocab.from_vocab_dict(self.tokenizer.get_vocab())

    def dev_data(self, cfg: FinetuneConfig, common: dict[str, Any]) -> AudioDataset:
        """The dev set keeps long utterances and out-of-vocabulary characters (scored as they
        are, with a warning); missing or unreadable files are skipped or stop per bad_input."""
        try:
            dev, report = prepare(
                cfg.dev, max_samples=None, crop=False, **{**common, "encode": None}
            )
        except DataError as e:
            raise DataError(f"dev set: {e}") from None
        logger.info("dev data: %s", report.summary())
        encode, items, oov = encoder(self.tokenizer), [], []
        for u in dev:
            ids, unknown = encode(u.text)
            oov += [os.path.basename(u.path)] if unknown else []
            items.append(dataclasses.replace(u, labels=tuple(ids)))
        if oov:
            logger.warning(
                "dev data: %d utterances have characters outside the vocabulary "
                "(e.g. %s); they are scored as they are",
                len(oov),
                oov[0],
            )
        return AudioDataset(items, cfg.sampling_rate, cfg.seed)

    def before_update(self, update: int) -> None:
        if update == self.cfg.freeze_encoder_updates and update > 0:
            logger.info("update %d: the encoder is no longer frozen", update)

    def train_logs(self, totals: dict[str, float]) -> dict[str, float]:
        return {
            "loss": totals["loss"] / max(totals["weight"], 1.0),
            "utterances": int(totals["utterances"]),
        }

    @torch.no_grad()
    def evaluate(self, dist: Dist) -> dict[str, float] | None:
        """Dev loss per character, WER and CER (greedy decoding), sharded over processes.

        With `mask_conv_padding` (the default) a "layer" feature-norm model scores the same
        however the dev set is batched, as in `w2vc evaluate`; a group-norm feature encoder
        still normalises over the padding."""
        if self.dev_set is None:
            return None
        cfg, model = self.cfg, self.model
        model.eval()
        loader = eval_loader(
            self.dev_set, self.collator, cfg, dist.rank, dist.world_size, cfg.num_workers
        )
        precision = runtime.resolve_precision(cfg.precision, dist.device)
        pairs, loss, chars, errors = [], 0.0, 0.0, 0
        for batch in loader:
            errors += len(batch["errors"])
            if batch["size"] == 0:
                continue
            mask, labels = batch["attention_mask"], batch["labels"]
            with runtime.autocast(precision, dist.device):
                logits = model(
                    batch["input_values"].to(dist.device), attention_mask=mask.to(dist.device)
                ).logits
            logits = logits.float().cpu()
            frames = model.feat_extract_output_lengths(mask.sum(-1)).long()
            blank = model.config.pad_token_id
            loss += float(ctc_loss(logits, labels, frames, blank, "sum", zero_infinity=True))
            chars += float(((labels != -100) & (labels != blank)).sum())
            for i, r in zip(
                batch["indices"], greedy_decode(logits, self.vocab, frames), strict=True
            ):
                pairs.append((self.normalise(self.dev_set.items[i].text), self.normalise(r.text)))
        model.train()
        gathered = runtime.all_gather((pairs, loss, chars, errors), dist)
        if not dist.is_main:
            return {}
        pairs = [p for g in gathered for p in g[0]]
        loss, chars = sum(g[1] for g in gathered), sum(g[2] for g in gathered)
        refs, hyps = [p[0] for p in pairs], [p[1] for p in pairs]
        result = {"loss": loss / max(chars, 1.0), "utterances": len(pairs)}
        if pairs:
            result["wer"] = 100 * jiwer.wer(refs, hyps)
            result["cer"] = 100 * jiwer.cer(refs, hyps)
        if sum(g[3] for g in gathered):
            result["skipped"] = sum(g[3] for g in gathered)
        return result

    def normalise(self, text: str) -> str:
        text = " ".join(text.split())
        return text.lower() if self.tokenizer.do_lower_case else text

    def processor(self) -> Wav2Vec2Processor:
        fe = Wav2Vec2FeatureExtractor(
            sampling_rate=self.cfg.sampling_rate, return_attention_mask=True, do_normalize=True
        )
        return Wav2Vec2Processor(fe, self.tokenizer)

    def save_model(self, folder: str) -> None:
        """HF layout: config.json, model.safetensors, processor and feature-extractor files."""
        self.model.save_pretrained(folder)
        processor = self.processor()
        processor.save_pretrained(folder)
        processor.feature_extractor.save_pretrained(folder)  # preprocessor_config.json too


def finetune(cfg: FinetuneConfig) -> dict[str, Any]:
    """Fine-tune with CTC as `cfg` says; returns the last train and dev metrics. Under torchrun
    every process calls this; rank 0 writes the outputs."""

    def make_job(cfg: FinetuneConfig, dist: Dist) -> CTCJob:
        job = CTCJob(cfg, dist)
        if dist.is_main:
            job.tokenizer.save_pretrained(cfg.out)
        return job

    return launch(cfg, make_job)
