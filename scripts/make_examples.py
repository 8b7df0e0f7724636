"""Pick the bundled model's example recordings from its dev-set evaluation.

    w2vc evaluate data/corpus/dev.tsv --model runs/bundled/final --json dev_results.json
    python scripts/make_examples.py dev_results.json --corpus data/corpus \
        --out wav2vec2_conformer/assets/examples

One example per dev voice (voices the model never heard in training): of that voice's dev
utterances between --min-s and --max-s seconds with at least --min-words words, the one with the
fewest word errors (at most --max-wer; ties: more words), and the examples listed from the
fewest errors up, so the first is one the model gets right. They are chosen for being
transcribed well (they show what the model does when it works, and the tests check their
words); the dev WER/CER in the model card is the honest measure. Written as 16-bit wav (any
soundfile build reads it) with `examples.tsv` (`file<TAB>transcript`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wav2vec2_conformer.fileio import atomic_path, atomic_write_text  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", help="w2vc evaluate --json output on the dev set")
    p.add_argument("--corpus", required=True, help="the corpus folder (its dev.jsonl)")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--voices", nargs="+", default=["flite:rms", "mbrola:mb-us3", "festival:ked_diphone"]
    )
    p.add_argument("--min-s", type=float, default=2.5)
    p.add_argument("--max-s", type=float, default=5.0)
    p.add_argument("--min-words", type=int, default=5)
    p.add_argument("--max-wer", type=float, default=0.0, help="word error rate allowed (0-1)")
    args = p.parse_args()

    with open(args.results, encoding="utf-8") as f:
        results = {os.path.abspath(r["path"]): r for r in json.load(f)["results"]}
    with open(os.path.join(args.corpus, "dev.jsonl"), encoding="utf-8") as f:
        meta = [json.loads(line) for line in f if line.strip()]
    os.makedirs(args.out, exist_ok=True)
    picked = []
    for voice in args.voices:
        fits = []
        for m in meta:
            r = results.get(os.path.abspath(os.path.join(args.corpus, m["path"])))
            if (
                m["voice"] == voice
                and r is not None
                and r["wer"] <= args.max_wer
                and args.min_s <= m["seconds"] <= args.max_s
                and len(r["reference"].split()) >= args.min_words
            ):
                fits.append((r["wer"], -len(r["reference"].split()), m["seconds"], voice, r))
        if not fits:
            print(f"no dev utterance of {voice} fits; loosen the limits", file=sys.stderr)
            return 1
        picked.append(min(fits, key=lambda x: x[:3]))
    rows = []
    for wer, _, seconds, voice, r in sorted(picked, key=lambda x: x[0]):
        name = voice.replace(":", "-").replace("_", "-") + ".wav"
        audio, rate = sf.read(r["path"], dtype="int16")
        with atomic_path(os.path.join(args.out, name)) as tmp:
            sf.write(tmp, audio, rate, subtype="PCM_16", format="WAV")
        rows.append(f"{name}\t{r['reference']}")
        print(f"{name}: {seconds:.1f} s, WER {100 * wer:.0f}%, {r['reference']!r}")
    atomic_write_text(os.path.join(args.out, "examples.tsv"), "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
