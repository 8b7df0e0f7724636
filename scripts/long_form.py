"""A long-form test set from a manifest of sentences: each voice's utterances joined, a few at a
time in manifest order, each followed by a pause, into one file.

    python scripts/long_form.py data/corpus/dev.tsv --out runs/longform   # 12 a file, 0.4 s
    w2vc evaluate runs/longform/long.tsv --chunk-length 10

A voice is the folder an utterance lies in (`w2vc corpus` writes `{split}/{voice}/`); a voice's
last utterances that do not fill a file are left out. Writes `OUT/{voice}_{k}.flac` and the
manifest `OUT/long.tsv` (the joined transcripts), so `w2vc evaluate` scores a model on audio
longer than the sentences it was trained on.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wav2vec2_conformer.audio import load_audio  # noqa: E402
from wav2vec2_conformer.commands import normalise, read_manifest  # noqa: E402
from wav2vec2_conformer.fileio import atomic_path, atomic_write_text  # noqa: E402

SAMPLING_RATE = 16000


def join(manifest: str, out: str, per_file: int = 12, pause_s: float = 0.4) -> list[str]:
    """Write the joined files and their manifest; returns the manifest's rows."""
    by_voice = defaultdict(list)
    for utt in read_manifest(manifest):
        by_voice[os.path.basename(os.path.dirname(utt.path))].append(utt)
    os.makedirs(out, exist_ok=True)
    pause = np.zeros(int(round(pause_s * SAMPLING_RATE)), np.float32)
    rows = []
    for voice, utts in sorted(by_voice.items()):
        for k in range(len(utts) // per_file):
            group = utts[k * per_file : (k + 1) * per_file]
            audio = [x for u in group for x in (load_audio(u.path, SAMPLING_RATE), pause)]
            name = f"{voice}_{k:02d}.flac"
            with atomic_path(os.path.join(out, name)) as tmp:
                sf.write(tmp, np.concatenate(audio), SAMPLING_RATE, format="FLAC")
            rows.append(f"{name}\t{' '.join(normalise(u.reference) for u in group)}")
    if not rows:
        raise ValueError(f"{manifest}: no voice has {per_file} utterances")
    atomic_write_text(os.path.join(out, "long.tsv"), "\n".join(rows) + "\n")
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", help="path<TAB>transcript, audio in one folder per voice")
    p.add_argument("--out", required=True)
    p.add_argument("--per-file", type=int, default=12, help="utterances joined into one file")
    p.add_argument("--pause", type=float, default=0.4, help="seconds of silence after each")
    args = p.parse_args(argv)
    rows = join(args.manifest, args.out, args.per_file, args.pause)
    print(f"wrote {len(rows)} files and {os.path.join(args.out, 'long.tsv')}")


if __name__ == "__main__":
    main()
