"""WER and CER per voice (and per augmentation) from a `w2vc evaluate --json` report.

    w2vc evaluate data/corpus/dev.tsv --no-lm --json dev.json
    python scripts/voice_breakdown.py dev.json --corpus data/corpus

Voices and augmentations come from the corpus plans (`<split>.plan.jsonl`) that `w2vc corpus`
writes beside its manifests; utterances the plans do not know are grouped as "?". Prints a
Markdown table (the model card's per-voice table); `--json` also writes it as data.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from collections import defaultdict

import jiwer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wav2vec2_conformer.fileio import atomic_write_text  # noqa: E402


def plan_index(corpus: str) -> dict[str, dict]:
    """Absolute audio path -> its plan row, over every plan in `corpus`."""
    index = {}
    for plan in glob.glob(os.path.join(corpus, "*.plan.jsonl")):
        with open(plan, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                if "path" in row:
                    index[os.path.abspath(os.path.join(corpus, row["path"]))] = row
    return index


def group_scores(results: list[dict], key) -> dict[str, dict[str, float]]:
    """Corpus-level WER/CER (errors over reference length, not a mean of ratios) per group."""
    groups: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for r in results:
        refs, hyps = groups[key(r)]
        refs.append(r["reference"])
        hyps.append(r["hypothesis"])
    return {
        name: {
            "utterances": len(refs),
            "wer": jiwer.wer(refs, hyps),
            "cer": jiwer.cer(refs, hyps),
        }
        for name, (refs, hyps) in sorted(groups.items())
    }


def table(title: str, scores: dict[str, dict[str, float]]) -> str:
    lines = [f"| {title} | utterances | WER % | CER % |", "|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(
            f"| {name} | {s['utterances']} | {100 * s['wer']:.2f} | {100 * s['cer']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", help="JSON written by `w2vc evaluate --json`")
    ap.add_argument("--corpus", required=True, help="corpus folder with the *.plan.jsonl files")
    ap.add_argument("--json", help="also write the tables here as JSON")
    args = ap.parse_args(argv)
    with open(args.report, encoding="utf-8") as f:
        results = json.load(f)["results"]
    plans = plan_index(args.corpus)

    def voice(r: dict) -> str:
        return plans.get(os.path.abspath(r["path"]), {}).get("voice", "?")

    def augmentation(r: dict) -> str:
        row = plans.get(os.path.abspath(r["path"]))
        return "?" if row is None else "+".join(sorted(row.get("augment") or {})) or "none"

    by_voice, by_aug = group_scores(results, voice), group_scores(results, augmentation)
    print(table("voice", by_voice))
    if len(by_aug) > 1:
        print()
        print(table("augmentation", by_aug))
    if args.json:
        text = json.dumps({"voice": by_voice, "augmentation": by_aug}, indent=2)
        atomic_write_text(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
