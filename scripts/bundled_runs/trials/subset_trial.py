"""Decoding trials on every third dev utterance (228), as in the model card's discussion.

    python scripts/bundled_runs/trials/subset_trial.py MODEL [MODEL2] [--lm LM] [--ab 0.7,1.5 ...]
        [--blank-offsets 0 -0.5 ...] [--prior-scales 0 0.3 ...]

Scores each model alone (greedy and with the LM at beam 256, token_min_logp -12, unknown-word
offset -10) and, given two, the mean of their probabilities and of their log-probabilities
(same frame rate, so the frames align). `--blank-offsets` adds each offset to the blank's
log-prob in every frame (the frame then renormalised) before decoding: a negative one makes the
search less ready to drop a letter. `--prior-scales` subtracts that share of each token's log
prior (its mean probability over the subset's frames) instead. Log-probs are cached under
runs/subset/.
"""

import argparse
import os
import pickle

import jiwer
import numpy as np
import torch

from wav2vec2_conformer.audio import load_audio
from wav2vec2_conformer.decoder import Decoding, decode_texts
from wav2vec2_conformer.decoding import shift_blank
from wav2vec2_conformer.lm import load_lm
from wav2vec2_conformer.transcribe import load_pipeline, transcribe_arrays

BUNDLED_LM = "wav2vec2_conformer/assets/model/language_model/lm.arpa.gz"


def logsumexp(lp: np.ndarray) -> np.ndarray:
    """Each frame's log normaliser, `[frame, 1]`."""
    return np.logaddexp.reduce(lp, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--dev", default="data/corpus/dev.tsv")
    ap.add_argument("--lm", default=BUNDLED_LM)
    ap.add_argument("--ab", nargs="+", default=["0.7,1.5"], help="alpha,beta pairs")
    ap.add_argument("--blank-offsets", nargs="+", type=float, default=[0.0])
    ap.add_argument("--prior-scales", nargs="+", type=float, default=[])
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = os.path.dirname(args.dev)
    rows = [line.split("\t") for line in open(args.dev).read().splitlines()][::3]
    refs = [r[1] for r in rows]

    def logps(model: str):
        cache = f"runs/subset/{model.strip('/').replace('/', '_')}.pkl"
        if os.path.exists(cache):
            with open(cache, "rb") as f:
                return pickle.load(f)
        wavs = [load_audio(os.path.join(root, r[0]), 16000) for r in rows]
        out = transcribe_arrays(load_pipeline(model), wavs, batch_size=1, return_cuts=True)
        os.makedirs("runs/subset", exist_ok=True)
        with open(cache, "wb") as f:
            pickle.dump(out, f)
        return out

    pipe = load_pipeline(args.models[0])  # for the vocabulary
    lm = load_lm(args.lm)
    decodings = [("greedy", Decoding())] + [
        (
            f"LM a {a} b {b}",
            Decoding(beam_size=256, lm=lm, alpha=a, beta=b, unk_offset=-10.0, token_min_logp=-12.0),
        )
        for a, b in (map(float, ab.split(",")) for ab in args.ab)
    ]

    def score(tag: str, lps, cuts) -> None:
        for name, d in decodings:
            hyp = decode_texts(pipe, lps, cuts, d)
            wer, cer = 100 * jiwer.wer(refs, hyp), 100 * jiwer.cer(refs, hyp)
            print(f"{tag:40s} {name:16s} WER {wer:6.2f}% CER {cer:6.2f}%", flush=True)

    results = {m: logps(m) for m in args.models}
    blank = pipe.vocab.blank_id

    for m, (lps, cuts) in results.items():
        for by in args.blank_offsets:
            score(f"{m} blank {by:+g}", [shift_blank(lp, blank, by) for lp in lps], cuts)
        log_prior = np.log(np.concatenate([np.exp(lp) for lp in lps]).mean(axis=0))
        for k in args.prior_scales:
            moved = [lp - k * log_prior for lp in lps]
            score(f"{m} prior {k:g}", [lp - logsumexp(lp) for lp in moved], cuts)
    if len(args.models) == 2:
        (la, cuts), (lb, _) = results.values()
        pairs = list(zip(la, lb, strict=True))
        score("mean of probabilities", [np.logaddexp(x, y) - np.log(2) for x, y in pairs], cuts)
        score("mean of log-probabilities", [(x + y) / 2 for x, y in pairs], cuts)


if __name__ == "__main__":
    main()
