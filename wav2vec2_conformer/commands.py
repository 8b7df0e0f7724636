"""`w2vc transcribe` and `w2vc evaluate`: files in, text and scores out, one bad file never
stopping the others."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

from tqdm import tqdm

from .audio import AudioError, list_audio_files, load_audio
from .decoder import Decoding, decode_logprobs, decoding_for
from .fileio import atomic_write_text
from .transcribe import MODEL_SETTING, ASRPipeline, Transcription, load_pipeline, transcribe_arrays
from .writers import NEEDS_TIMESTAMPS, format_result


def _err(command: str, message: str) -> None:
    tqdm.write(f"w2vc {command}: error: {message}", file=sys.stderr)


def _setup(args: argparse.Namespace) -> tuple[ASRPipeline, Decoding]:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model)
    lm = False if args.no_lm else args.lm
    decoding = decoding_for(
        pipe,
        args.beam_size,
        lm,
        args.hotword,
        alpha=args.alpha,
        beta=args.beta,
        token_min_logp=args.token_min_logp,
        blank_offset=args.blank_offset,
        temperature=args.temperature,
        unk_offset=args.unk_offset,
    )
    return pipe, decoding


def _duration(path: str) -> float:
    try:
        import soundfile

        return float(soundfile.info(path).duration)
    except Exception:  # unreadable files are reported when loaded
        return 0.0


def run_files(
    args: argparse.Namespace,
    command: str,
    paths: list[str],
    timestamps: bool,
    on_result,
    by_length: bool = False,
) -> int:
    """Transcribe `paths` in groups of `batch_size` files, calling `on_result(path, result)` as
    each group finishes; returns the number of files that failed.

    With `by_length`, files are taken shortest first, so that a batch holds files of similar
    length and little padding (which changes what a group-norm feature encoder computes);
    `on_result` then comes in that order, not the input order."""
    pipe, decoding = _setup(args)
    need = pipe.model.config.receptive_field
    failed = 0
    durations = {p: _duration(p) for p in paths}
    total = sum(durations.values())
    if by_length:
        paths = sorted(paths, key=durations.__getitem__)  # stable: ties keep the input order
    bar = tqdm(
        total=round(total, 1),
        unit="s",
        desc=f"{command} 0/{len(paths)} files",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=None,
    )
    done = 0
    for g in range(0, len(paths), args.batch_size):
        group, waves = [], []
        for path in paths[g : g + args.batch_size]:
            try:
                wav = load_audio(path, pipe.sampling_rate)
                if len(wav) < need:
                    raise AudioError(
                        f"{path}: {len(wav)} samples is shorter than the model's receptive "
                        f"field of {need} samples"
                    )
                waves.append(wav)
                group.append(path)
            except (AudioError, OSError) as e:
                failed += 1
                _err(command, str(e))
        logps, cuts = (
            transcribe_arrays(
                pipe,
                waves,
                batch_size=args.batch_size,
                chunk_length_s=(
                    MODEL_SETTING if args.chunk_length is None else args.chunk_length or None
                ),
                stride_s=args.stride,
                split_at_pauses=(
                    MODEL_SETTING if args.split_at_pauses is None else args.split_at_pauses
                ),
                return_cuts=True,
                min_pause_s=MODEL_SETTING if args.min_pause is None else args.min_pause,
            )
            if waves
            else ([], [])
        )
        for path, wav, lp, cut in zip(group, waves, logps, cuts, strict=True):
            done += 1
            bar.update(round(len(wav) / pipe.sampling_rate, 1))
            bar.set_description(f"{command} {done}/{len(paths)} files")
            res = decode_logprobs(pipe, lp, decoding, timestamps, cut)
            on_result(
                path,
                Transcription(
                    text=res.text,
                    duration_s=len(wav) / pipe.sampling_rate,
                    words=res.words if timestamps else None,
                    chars=res.chars if getattr(args, "timestamps", None) == "char" else None,
                    source=path,
                ),
            )
    bar.close()
    return failed


def transcribe_cmd(args: argparse.Namespace) -> int:
    paths, failed = [], 0
    for item in args.inputs:
        try:
            paths += [str(p) for p in list_audio_files([item])]
        except AudioError as e:
            failed += 1
            _err("transcribe", str(e))
    many = len(paths) > 1
    timestamps = bool(args.timestamps) or args.output_format in NEEDS_TIMESTAMPS
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)

    def emit(path: str, result: Transcription) -> None:
        tqdm.write(f"{path}\t{result.text}" if many else result.text, file=sys.stdout)
        if args.output_dir:
            stem = os.path.splitext(os.path.basename(path))[0]
            out = os.path.join(args.output_dir, f"{stem}.{args.output_format}")
            atomic_write_text(out, format_result(result, args.output_format))

    failed += run_files(args, "transcribe", paths, timestamps, emit)
    if failed:
        _err("transcribe", f"{failed} input(s) failed")
    return 1 if failed else 0


@dataclass
class Utterance:
    path: str
    reference: str
    hypothesis: str | None = None


def read_manifest(path: str, need_transcript: bool = True) -> list[Utterance]:
    """`path<TAB>transcript` lines; paths relative to the manifest's folder."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such manifest")
    root = os.path.dirname(os.path.abspath(path))
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            audio, sep, text = line.partition("\t")
            if need_transcript and not sep:
                raise ValueError(f"{path}:{n}: expected 'path<TAB>transcript'")
            out.append(Utterance(os.path.join(root, audio.strip()), text.strip()))
    if not out:
        raise ValueError(f"{path}: the manifest is empty")
    return out


def normalise(text: str) -> str:
    """Lower-case, single spaces: model vocabularies differ in case from manifests."""
    return " ".join(text.lower().split())


def evaluate_cmd(args: argparse.Namespace) -> int:
    import jiwer

    utts = read_manifest(args.manifest)
    by_path = {u.path: u for u in utts}

    def keep(path: str, result: Transcription) -> None:
        by_path[path].hypothesis = normalise(result.text)

    # order-free (results are kept by path), so batches are built from files of similar length
    failed = run_files(args, "evaluate", [u.path for u in utts], False, keep, by_length=True)
    scored = [u for u in utts if u.hypothesis is not None and normalise(u.reference)]
    skipped_empty = sum(1 for u in utts if u.hypothesis is not None and not normalise(u.reference))
    if skipped_empty:
        _err("evaluate", f"{skipped_empty} utterance(s) with an empty transcript were not scored")
    if not scored:
        raise ValueError("no utterance could be scored")
    refs = [normalise(u.reference) for u in scored]
    hyps = [u.hypothesis for u in scored]
    wer, cer = jiwer.wer(refs, hyps), jiwer.cer(refs, hyps)
    if args.json:
        rows = [
            dict(path=u.path, reference=r, hypothesis=h, wer=jiwer.wer(r, h), cer=jiwer.cer(r, h))
            for u, r, h in zip(scored, refs, hyps, strict=True)
        ]
        report = dict(wer=wer, cer=cer, utterances=len(scored), failed=failed, results=rows)
        atomic_write_text(args.json, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if failed:
        _err("evaluate", f"{failed} file(s) failed and were not scored")
    print(f"utterances {len(scored)}  words {sum(len(r.split()) for r in refs)}")
    print(f"WER {100 * wer:.2f}% CER {100 * cer:.2f}%")
    return 1 if failed else 0
