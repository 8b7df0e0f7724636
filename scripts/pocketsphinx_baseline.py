"""PocketSphinx on a manifest: the baseline the bundled model's card compares against.

    python -m venv /tmp/ps && /tmp/ps/bin/pip install pocketsphinx==5.1.1 soundfile jiwer
    /tmp/ps/bin/python scripts/pocketsphinx_baseline.py data/corpus/dev.tsv

PocketSphinx (PyPI `pocketsphinx`) ships a US English acoustic model, a 3-gram LM and the CMU
pronouncing dictionary; it runs here with those defaults, one decoder per process. References
and hypotheses are lower-cased with spaces collapsed (as `w2vc evaluate` does). The last line
is `WER <x>% CER <y>%`, like `w2vc evaluate`'s. It is a separate script (not a project
dependency): pocketsphinx is only the yardstick.
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool

import jiwer
import numpy as np
import soundfile as sf
from pocketsphinx import Decoder


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


_decoder = None


def recognise(path: str) -> str:
    """PocketSphinx's text for one 16 kHz file (one decoder per worker process)."""
    global _decoder
    if _decoder is None:
        _decoder = Decoder(samprate=16000, loglevel="FATAL")
    audio, rate = sf.read(path, dtype="int16", always_2d=True)
    if rate != 16000:
        raise ValueError(f"{path}: {rate} Hz; this script expects the corpus's 16 kHz")
    _decoder.start_utt()
    _decoder.process_raw(np.ascontiguousarray(audio[:, 0]).tobytes(), full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    return hyp.hypstr if hyp else ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", help="path<TAB>transcript lines, paths relative to the manifest")
    p.add_argument("--limit", type=int, help="first N utterances only")
    p.add_argument("--jobs", type=int, default=os.cpu_count(), help="decoder processes")
    args = p.parse_args()
    root = os.path.dirname(os.path.abspath(args.manifest))
    with open(args.manifest, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    paths = [os.path.join(root, path) for path, _ in rows]
    with Pool(args.jobs) as pool:
        hyps = []
        for i, hyp in enumerate(pool.imap(recognise, paths, chunksize=4)):
            hyps.append(normalise(hyp))
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{len(rows)}", file=sys.stderr)
    refs = [normalise(text) for _, text in rows]
    wer, cer = 100 * jiwer.wer(refs, hyps), 100 * jiwer.cer(refs, hyps)
    print(f"{len(rows)} utterances")
    print(f"WER {wer:.2f}% CER {cer:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
