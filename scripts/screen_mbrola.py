"""Screen mbrola diphone sets for reading English: which foreign sets can join the corpus.

    python scripts/screen_mbrola.py data/corpus/dev.tsv --out runs/mbrola_screen \
        --model wav2vec2_conformer/assets/model

For every installed mbrola diphone set that espeak-ng has a voice for in its own language but
no English one, this pairs it with English through that voice's phoneme table (as
`synth._MBROLA_PAIRED` does); espeak-ng's own accented English voices (`mb-*-en`) are screened
beside them for comparison. Each voice reads the same sentences (from a manifest's
transcripts); the table counts mbrola's "unknown diphone" warnings (each one a diphone replaced
by silence) and, with `--model`, gives the model's greedy WER/CER per voice. The audio and a
manifest stay in `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from voice_breakdown import group_scores  # noqa: E402

from wav2vec2_conformer import synth  # noqa: E402
from wav2vec2_conformer.fileio import atomic_write_text  # noqa: E402
from wav2vec2_conformer.train.data import read_manifest  # noqa: E402

NATIVE_ENGLISH = {"us1", "us2", "us3", "en1"}


def voice_setting(path: str, key: str) -> list[str]:
    """The words after ``key`` on its line of an espeak-ng voice file ([] if absent)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.split()
            if words and words[0] == key:
                return words[1:]
    return []


def candidates() -> dict[str, str | None]:
    """Voice name -> voice file text for the pairings to screen; None for espeak-ng's own
    accented voices (screened as they are)."""
    mb = os.path.join(synth.ESPEAK_DATA, "voices", "mb")
    found: dict[str, str | None] = {}
    for db in sorted(os.listdir(synth.MBROLA_DIR)):
        if db in NATIVE_ENGLISH or not os.path.exists(os.path.join(synth.MBROLA_DIR, db, db)):
            continue
        if os.path.exists(os.path.join(mb, f"mb-{db}-en")):
            found[f"mb-{db}-en"] = None
            continue
        native = os.path.join(mb, f"mb-{db}")
        setting = voice_setting(native, "mbrola") if os.path.exists(native) else []
        table = setting[1] if len(setting) > 1 else ""
        if table and os.path.exists(os.path.join(synth.ESPEAK_DATA, "mbrola_ph", table)):
            gender = (voice_setting(native, "gender") or ["male"])[0]
            found[f"mb-{db}-en"] = synth.paired_voice_text(db, table, gender)
    return found


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", help="sentences to read: a manifest's transcripts")
    p.add_argument("--out", required=True, help="folder for the audio, manifest and table")
    p.add_argument("--sentences", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--model", help="score each voice with this model (greedy decoding)")
    args = p.parse_args(argv)

    texts = [text for _, text, _ in read_manifest(args.manifest, with_text=True)]
    random.Random(args.seed).shuffle(texts)
    texts = texts[: args.sentences]
    voices = candidates()
    warnings, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        data = synth.espeak_data_view(tmp, {k: v for k, v in voices.items() if v})
        for name in voices:
            os.makedirs(os.path.join(args.out, name), exist_ok=True)
            warnings[name] = 0
            for i, text in enumerate(texts):
                wav = os.path.abspath(os.path.join(args.out, name, f"{i}.wav"))
                r = subprocess.run(
                    ["espeak-ng", *data, "-v", name, "-w", wav, text],
                    capture_output=True,
                    text=True,
                )
                warnings[name] += r.stderr.count("unknown")
                if r.returncode == 0 and os.path.getsize(wav) > 1000:
                    rows.append(f"{wav}\t{text}\n")
    manifest = os.path.join(args.out, "manifest.tsv")
    atomic_write_text(manifest, "".join(rows))
    scores: dict[str, dict[str, float]] = {}
    if args.model:
        report = os.path.join(args.out, "report.json")
        cmd = [sys.executable, "-m", "wav2vec2_conformer", "evaluate", manifest, "--no-lm"]
        subprocess.run([*cmd, "--model", args.model, "--json", report], check=True)
        with open(report, encoding="utf-8") as f:
            results = json.load(f)["results"]
        scores = group_scores(results, lambda r: os.path.basename(os.path.dirname(r["path"])))
    lines = ["| voice | paired here | unknown diphones | WER % | CER % |", "|---|---|---|---|---|"]
    for name in sorted(voices, key=lambda n: (scores.get(n, {}).get("cer", 2.0), n)):
        s = scores.get(name)
        wer_cer = f"{100 * s['wer']:.1f} | {100 * s['cer']:.1f}" if s else "- | -"
        paired = "yes" if voices[name] else "no"
        lines.append(f"| {name} | {paired} | {warnings[name]} | {wer_cer} |")
    atomic_write_text(os.path.join(args.out, "screen.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
