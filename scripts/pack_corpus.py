"""Pack a corpus split into a small Ogg/Opus copy with its manifest, to ship it to a training
machine under a size budget (the lent GPU machine takes at most ~60 MiB of data per call).

    python scripts/pack_corpus.py /work/data/corpus/train.tsv packed/ --max-mb 58 --level 0.98

Utterances are taken in manifest order until the budget is reached; the manifest written beside
them (`train.tsv`) lists only the packed ones. Opus at ~14 kbit/s keeps speech intelligible and
acts as a mild codec augmentation; evaluate on the original (lossless) dev set.
"""

from __future__ import annotations

import argparse
import os
import sys

import soundfile as sf

from wav2vec2_conformer.commands import read_manifest
from wav2vec2_conformer.fileio import atomic_write_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("out_dir")
    ap.add_argument("--max-mb", type=float, default=58.0)
    ap.add_argument("--level", type=float, default=0.98, help="Opus compression level, 0..1")
    args = ap.parse_args(argv)
    utts = read_manifest(args.manifest)
    name = os.path.splitext(os.path.basename(args.manifest))[0]
    audio_dir = os.path.join(args.out_dir, name)
    os.makedirs(audio_dir, exist_ok=True)
    budget, used, rows, seconds = args.max_mb * 2**20, 0, [], 0.0
    for i, u in enumerate(utts):
        x, sr = sf.read(u.path, dtype="float32")
        rel = os.path.join(name, f"{i:06d}.opus")
        dest = os.path.join(args.out_dir, rel)
        sf.write(dest, x, sr, format="OGG", subtype="OPUS", compression_level=args.level)
        size = os.path.getsize(dest)
        if used + size > budget:
            os.remove(dest)
            break
        used += size
        seconds += len(x) / sr
        rows.append(f"{rel}\t{u.reference}")
    atomic_write_text(os.path.join(args.out_dir, f"{name}.tsv"), "\n".join(rows) + "\n")
    print(
        f"packed {len(rows)}/{len(utts)} utterances, {seconds / 3600:.2f} h, "
        f"{used / 2**20:.1f} MiB into {args.out_dir}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
