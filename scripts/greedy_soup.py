"""Greedy model soup: the mean of those fine-tunes that help, chosen on a dev manifest.

    python scripts/greedy_soup.py --dev data/corpus/dev.tsv --out runs/soup/greedy \
        runs/stage12/final runs/stage13/best runs/stage13/final runs/stage14/final

The candidates (model folders or training checkpoints of one architecture, best fine-tuned from
one starting point) are scored alone by greedy dev CER, then offered to the soup best first: one
stays if the mean of the kept weights scores no worse with it (Wortsman et al., 2022, "Model
soups", their greedy recipe). Each step is printed as a Markdown table row; the soup is written
like `w2vc average` of the kept candidates (the first kept one is the template). Dev audio is
read once; each score is one forward pass over it (about half a minute for the bundled model's
684 dev utterances on two cores).
"""

from __future__ import annotations

import argparse
import os
import sys

import jiwer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wav2vec2_conformer.audio import load_audio  # noqa: E402
from wav2vec2_conformer.average import (  # noqa: E402
    average_checkpoints,
    expand_inputs,
    mean_state,
    read_weights,
)
from wav2vec2_conformer.checkpoint import load_into  # noqa: E402
from wav2vec2_conformer.commands import normalise, read_manifest  # noqa: E402
from wav2vec2_conformer.decoder import Decoding, decode_texts  # noqa: E402
from wav2vec2_conformer.transcribe import load_pipeline, transcribe_arrays  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("candidates", nargs="+", help="model folders or training checkpoints")
    p.add_argument("--dev", required=True, help="manifest: path<TAB>transcript")
    p.add_argument("--out", required=True, help="folder for the soup (HF layout)")
    p.add_argument("--like", help="model folder whose config and processor the soup takes")
    args = p.parse_args(argv)

    paths = expand_inputs(args.candidates, None)
    pipe = load_pipeline(args.like or next(c for c in paths if os.path.isdir(c)))
    utts = read_manifest(args.dev)
    waves = [load_audio(u.path, pipe.sampling_rate) for u in utts]
    refs = [normalise(u.reference) for u in utts]

    def score(weights: list[str]) -> tuple[float, float]:
        """Greedy dev (WER, CER) in % of the mean of `weights`."""
        load_into(pipe.model, mean_state((w, read_weights(w)) for w in weights))
        logps, cuts = transcribe_arrays(pipe, waves, return_cuts=True)
        hyps = [normalise(t) for t in decode_texts(pipe, logps, cuts, Decoding())]
        return 100 * jiwer.wer(refs, hyps), 100 * jiwer.cer(refs, hyps)

    print(f"{len(utts)} dev utterances\n\n| step | candidate | dev WER % | dev CER % | kept |")
    print("|---|---|---|---|---|")
    alone = {}
    for path in paths:
        alone[path] = score([path])
        print(f"| alone | {path} | {alone[path][0]:.2f} | {alone[path][1]:.2f} | |", flush=True)
    ranked = sorted(paths, key=lambda c: alone[c][1])
    kept, best = [ranked[0]], alone[ranked[0]]
    print(f"| 1 | {ranked[0]} | {best[0]:.2f} | {best[1]:.2f} | yes |")
    for step, path in enumerate(ranked[1:], start=2):
        trial = score([*kept, path])
        keep = trial[1] <= best[1]
        print(
            f"| {step} | + {path} | {trial[0]:.2f} | {trial[1]:.2f} | {'yes' if keep else 'no'} |",
            flush=True,
        )
        if keep:
            kept, best = [*kept, path], trial
    average_checkpoints(kept, args.out, like=args.like)
    print(f"\nsoup of {len(kept)}: dev WER {best[0]:.2f}% CER {best[1]:.2f}% -> {args.out}")
    print("w2vc average " + " ".join(kept) + f" --out {args.out}")


if __name__ == "__main__":
    main()
