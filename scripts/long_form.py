"""A long-form test set from a manifest of sentences: each voice's utterances joined, a few at a
time in manifest order, each followed by a pause, into one file.

    python scripts/long_form.py data/corpus/dev.tsv --out runs/longform   # 12 a file, 0.4 s
    w2vc evaluate runs/longform/long.tsv --chunk-length 10
    python scripts/long_form.py data/corpus/dev.tsv --out runs/longform --model M \
        --chunk-lengths 30,10,5 --split-at-pauses both --install    # M's defaults: the best

A voice is the folder an utterance lies in (`w2vc corpus` writes `{split}/{voice}/`); a voice's
last utterances that do not fill a file are left out. Writes `OUT/{voice}_{k}.flac` and the
manifest `OUT/long.tsv` (the joined transcripts), so `w2vc evaluate` scores a model on audio
longer than the sentences it was trained on. `--noise-snr 20` lays white noise under each whole
file (pauses included) at 20 dB below its speech.

With `--model`, the model transcribes the long files at each chunk length, cut at pauses first
or not (`--split-at-pauses no|yes|both`), with its own decoding (its language model if it has
one), and prints WER and CER (`--min-pauses 0.15,0.25,0.4`: the shortest pauses cut at, each
scored); `--install` writes the best (by WER) into the model's processor config as
`chunk_length_s`, `split_at_pauses` (and `min_pause_s`), which `w2vc transcribe`,
`w2vc evaluate` and `transcribe()` use when not told otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wav2vec2_conformer.audio import load_audio  # noqa: E402
from wav2vec2_conformer.commands import normalise, read_manifest  # noqa: E402
from wav2vec2_conformer.feature_extraction import update_saved_config  # noqa: E402
from wav2vec2_conformer.fileio import atomic_path, atomic_write_text  # noqa: E402

SAMPLING_RATE = 16000


def join(
    manifest: str,
    out: str,
    per_file: int = 12,
    pause_s: float = 0.4,
    noise_snr: float | None = None,
    seed: int = 0,
) -> list[str]:
    """Write the joined files and their manifest; returns the manifest's rows. With
    `noise_snr` (dB), white noise runs under each whole file, pauses included, at that ratio
    to the file's mean speech power: pauses are then not digital silence."""
    rng = np.random.default_rng(seed)
    by_voice = defaultdict(list)
    for utt in read_manifest(manifest):
        by_voice[os.path.basename(os.path.dirname(utt.path))].append(utt)
    os.makedirs(out, exist_ok=True)
    pause = np.zeros(int(round(pause_s * SAMPLING_RATE)), np.float32)
    rows = []
    for voice, utts in sorted(by_voice.items()):
        for k in range(len(utts) // per_file):
            group = utts[k * per_file : (k + 1) * per_file]
            speech = [load_audio(u.path, SAMPLING_RATE) for u in group]
            audio = np.concatenate([x for wav in speech for x in (wav, pause)])
            if noise_snr is not None:
                power = np.mean(np.concatenate(speech) ** 2)
                noise = rng.standard_normal(len(audio)) * np.sqrt(power / 10 ** (noise_snr / 10))
                audio = np.clip(audio + noise, -1.0, 1.0).astype(np.float32)
            name = f"{voice}_{k:02d}.flac"
            with atomic_path(os.path.join(out, name)) as tmp:
                sf.write(tmp, audio, SAMPLING_RATE, format="FLAC")
            rows.append(f"{name}\t{' '.join(normalise(u.reference) for u in group)}")
    if not rows:
        raise ValueError(f"{manifest}: no voice has {per_file} utterances")
    atomic_write_text(os.path.join(out, "long.tsv"), "\n".join(rows) + "\n")
    return rows


def score_settings(
    model: str, manifest: str, lengths: list[float], splits: list, batch_size: int = 8
) -> list[tuple[float, Any, float, float]]:
    """(chunk length, pause setting, WER %, CER %) of `model` on `manifest` for each chunk
    length (0: none) and pause setting: False (no cuts), True (cut at the model's shortest
    pause) or a shortest pause in seconds."""
    import jiwer

    from wav2vec2_conformer.decoder import decode_texts, decoding_for
    from wav2vec2_conformer.transcribe import MODEL_SETTING, load_pipeline, transcribe_arrays

    pipe = load_pipeline(model)
    decoding = decoding_for(pipe)
    utts = read_manifest(manifest)
    waves = [load_audio(u.path, pipe.sampling_rate) for u in utts]
    refs = [normalise(u.reference) for u in utts]
    results = []
    for split in splits:
        for seconds in lengths:
            logps, cuts = transcribe_arrays(
                pipe,
                waves,
                batch_size=batch_size,
                chunk_length_s=seconds,
                split_at_pauses=split is not False,
                min_pause_s=MODEL_SETTING if isinstance(split, bool) else split,
                return_cuts=True,
            )
            hyps = [normalise(t) for t in decode_texts(pipe, logps, cuts, decoding)]
            wer, cer = 100 * jiwer.wer(refs, hyps), 100 * jiwer.cer(refs, hyps)
            results.append((seconds, split, wer, cer))
            print(f"{describe(seconds, split)}: WER {wer:.2f}% CER {cer:.2f}%", flush=True)
    return results


def describe(seconds: float, split: Any) -> str:
    pauses = "" if split is False else ", split at pauses"
    if not isinstance(split, bool):
        pauses += f" of {split:g} s or more"
    return f"chunk length {seconds:g} s{pauses}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", help="path<TAB>transcript, audio in one folder per voice")
    p.add_argument("--out", required=True)
    p.add_argument("--per-file", type=int, default=12, help="utterances joined into one file")
    p.add_argument("--pause", type=float, default=0.4, help="seconds of silence after each")
    p.add_argument(
        "--noise-snr", type=float, help="white noise under each whole file at this SNR (dB)"
    )
    p.add_argument("--model", help="score this model on the long files")
    p.add_argument(
        "--chunk-lengths",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[30.0, 10.0, 5.0],
        help="seconds, comma-separated (0: no chunks); with --model",
    )
    p.add_argument(
        "--split-at-pauses",
        choices=["no", "yes", "both"],
        default="no",
        help="cut the files at their pauses first (both: score each length both ways)",
    )
    p.add_argument(
        "--min-pauses",
        type=lambda text: [float(x) for x in text.split(",")],
        help="shortest pauses cut at, seconds, comma-separated (default: the model's)",
    )
    p.add_argument(
        "--install",
        action="store_true",
        help="write the best as --model's chunk_length_s (and split_at_pauses)",
    )
    args = p.parse_args(argv)
    if args.install and not args.model:
        p.error("--install needs --model")
    if any(x < 0 for x in args.chunk_lengths):
        p.error("--chunk-lengths must be seconds >= 0")
    if args.min_pauses and (args.split_at_pauses == "no" or min(args.min_pauses) <= 0):
        p.error("--min-pauses must be seconds > 0, with --split-at-pauses yes or both")
    rows = join(args.manifest, args.out, args.per_file, args.pause, args.noise_snr)
    manifest = os.path.join(args.out, "long.tsv")
    print(f"wrote {len(rows)} files and {manifest}")
    if args.model:
        cuts = args.min_pauses or [True]
        splits = {"no": [False], "yes": cuts, "both": [False, *cuts]}[args.split_at_pauses]
        results = score_settings(args.model, manifest, args.chunk_lengths, splits)
        seconds, split, wer, cer = min(results, key=lambda r: (r[2], r[3]))
        print(f"best: {describe(seconds, split)}: WER {wer:.2f}% CER {cer:.2f}%")
        if args.install:
            values = dict(chunk_length_s=seconds or None, split_at_pauses=split is not False)
            if not isinstance(split, bool):
                values["min_pause_s"] = split
            update_saved_config(args.model, **values)
            print("installed " + ", ".join(f"{k} {v}" for k, v in values.items()))


if __name__ == "__main__":
    main()
