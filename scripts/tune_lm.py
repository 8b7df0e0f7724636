"""Tune a language model's decoding weights on a dev manifest, and install it in a model folder.

    python scripts/tune_lm.py --model runs/bundled/final --lm lm.arpa.gz --dev dev.tsv \
        --install                # writes MODEL/language_model/{lm.arpa.gz,attrs.json}

The acoustic model runs once over the dev set; then every (alpha, beta, unk_offset, beam size,
token_min_logp, blank_offset, temperature) of the grid decodes the stored log-probabilities with
the CTC prefix beam search, and the best WER wins.
Several `--lm` files (e.g. with and without `w2vc lm --vocabulary`) are compared the same way:
the grid runs for each, and the best LM is the one installed.
With --install, `w2vc transcribe` and `w2vc evaluate` use the LM and these weights by default
for that model (`--no-lm` turns it off).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import time

import jiwer
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wav2vec2_conformer.audio import load_audio  # noqa: E402
from wav2vec2_conformer.commands import normalise, read_manifest  # noqa: E402
from wav2vec2_conformer.decoder import LM_FOLDER, Decoding, decode_texts  # noqa: E402
from wav2vec2_conformer.fileio import atomic_path, atomic_write_text  # noqa: E402
from wav2vec2_conformer.lm import load_lm  # noqa: E402
from wav2vec2_conformer.transcribe import load_pipeline, transcribe_arrays  # noqa: E402


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


class GridAxis(argparse.Action):
    """A grid axis: values comma-separated, space-separated or both, stored as one flat list
    (`--unk-offset -4 -10`; argparse takes "-4,-10" for an option, so a comma list of negatives
    needs `--unk-offset=-4,-10`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [x for group in values for x in group])


def grid_option(
    p: argparse.ArgumentParser, name: str, default: str, what: str, kind=floats
) -> None:
    p.add_argument(name, type=kind, nargs="+", action=GridAxis, default=kind(default), help=what)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument(
        "--lm", required=True, nargs="+", help="ARPA file(s) (w2vc lm) or KenLM binaries"
    )
    p.add_argument("--dev", required=True, help="manifest: path<TAB>transcript")
    p.add_argument("--max-utterances", type=int, default=0, help="0: all")
    grid_option(p, "--alpha", "0.3,0.5,0.8,1.2", "LM weights to try")
    grid_option(p, "--beta", "0.0,1.0,2.0", "word bonuses to try")
    grid_option(p, "--unk-offset", "-4,-10", "unknown-word offsets to try (natural log)")
    grid_option(p, "--beam-size", "32", "beam sizes to try", ints)
    grid_option(p, "--token-min-logp", "-5", "per-frame token thresholds to try (natural log)")
    grid_option(p, "--blank-offset", "0", "offsets added to the blank's log-prob to try")
    grid_option(p, "--temperature", "1", "temperatures (log-probs divided by them) to try")
    p.add_argument("--install", action="store_true", help="copy the LM and weights into --model")
    args = p.parse_args()

    pipe = load_pipeline(args.model)
    utts = read_manifest(args.dev)
    if args.max_utterances:
        utts = utts[: args.max_utterances]
    waves = [load_audio(u.path, pipe.sampling_rate) for u in utts]
    logps, cuts = transcribe_arrays(pipe, waves, batch_size=1, return_cuts=True)
    refs = [normalise(u.reference) for u in utts]

    def score(decoding: Decoding) -> tuple[float, float]:
        hyps = [normalise(t) for t in decode_texts(pipe, logps, cuts, decoding)]
        return 100 * jiwer.wer(refs, hyps), 100 * jiwer.cer(refs, hyps)

    wer, cer = score(Decoding())
    print(f"{len(utts)} utterances; greedy: WER {wer:.2f}% CER {cer:.2f}%")
    results = []
    axes = (
        args.alpha,
        args.beta,
        args.unk_offset,
        args.beam_size,
        args.token_min_logp,
        args.blank_offset,
        args.temperature,
    )
    grid = list(itertools.product(*axes))
    bar = tqdm(total=len(args.lm) * len(grid), desc="grid", file=sys.stderr)
    for path in args.lm:  # one LM in memory at a time
        lm = load_lm(path)
        for alpha, beta, unk, beam, token_min, blank, temp in grid:
            start = time.time()
            d = Decoding(
                beam, lm, alpha, beta, unk,
                token_min_logp=token_min, blank_offset=blank, temperature=temp,
            )  # fmt: skip
            wer, cer = score(d)
            results.append((wer, cer, alpha, beta, unk, beam, token_min, blank, temp, path))
            tqdm.write(
                f"{path}: alpha {alpha:4.2f} beta {beta:4.1f} unk {unk:5.1f} beam {beam:4d} "
                f"token_min {token_min:5.1f} blank {blank:5.2f} temperature {temp:4.2f}: "
                f"WER {wer:6.2f}% CER {cer:6.2f}%  ({time.time() - start:.0f} s)",
                file=sys.stderr,
            )
            bar.update()
        if len(args.lm) > 1:
            wer, cer, alpha, beta, *_ = min(r for r in results if r[-1] == path)
            print(f"{path}: best alpha {alpha} beta {beta}: WER {wer:.2f}% CER {cer:.2f}%")
    bar.close()
    wer, cer, alpha, beta, unk, beam, token_min, blank, temp, path = min(results)
    print(
        f"best: {path} alpha {alpha} beta {beta} unk_score_offset {unk} beam_size {beam} "
        f"token_min_logp {token_min} blank_offset {blank} temperature {temp}: "
        f"WER {wer:.2f}% CER {cer:.2f}%"
    )
    if args.install:
        folder = os.path.join(args.model, LM_FOLDER)
        os.makedirs(folder, exist_ok=True)
        name = "lm.arpa.gz" if path.endswith(".gz") else os.path.basename(path)
        with atomic_path(os.path.join(folder, name)) as tmp:
            shutil.copyfile(path, tmp)
        attrs = {
            "alpha": alpha,
            "beta": beta,
            "unk_score_offset": unk,
            "beam_size": beam,
            "token_min_logp": token_min,
            "blank_offset": blank,
            "temperature": temp,
        }
        atomic_write_text(os.path.join(folder, "attrs.json"), json.dumps(attrs, indent=2) + "\n")
        print(f"installed {path} and {attrs} in {folder}")


if __name__ == "__main__":
    main()
