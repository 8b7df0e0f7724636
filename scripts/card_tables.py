"""The model card's tables and records (scripts/model_card.py): a run's train.log and
metrics.jsonl (wall time, dev curve), the corpus's voices and augmentations, and the
stage-by-stage results table with its means."""

from __future__ import annotations

import collections
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# Lines a (re)starting process logs before it trains.
STARTUP = re.compile(r" INFO (vocabulary|train data|dev data|resumed from)")


def wall_time(log_path: str) -> timedelta:
    """Training time in train.log: from the 'training ...' line to the last line (times of day;
    runs may cross midnight). A resumed run's pause (the time between the last line of the
    stopped process and the start-up lines of the resuming one) does not count."""
    total, last = timedelta(), None
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"(\d\d:\d\d:\d\d) ", line)
            if not m or (last is None and " training " not in line):
                continue
            now = datetime.strptime(m.group(1), "%H:%M:%S")
            if last is not None and not STARTUP.search(line):
                total += (now - last) % timedelta(days=1)
            last = now
    return total


def corpus_tables(corpus: str) -> tuple[str, str]:
    rows = read_jsonl(os.path.join(corpus, "train.jsonl"))
    by_engine: dict[str, list] = collections.defaultdict(lambda: [0, 0.0, set()])
    augment = collections.Counter()
    for r in rows:
        e = by_engine[r["engine"]]
        e[0] += 1
        e[1] += r["seconds"] / 3600
        e[2].add(r["voice"])
        for kind in r.get("augment") or {"none": 1}:
            augment[kind] += 1
    voices = "| engine | voices | utterances | hours |\n|---|---|---|---|\n"
    for name, (n, hours, vs) in sorted(by_engine.items(), key=lambda x: -x[1][1]):
        voices += f"| {name} | {len(vs)} | {n:,} | {hours:.2f} |\n"
    aug = ", ".join(f"{k} {100 * v / len(rows):.0f}%" for k, v in augment.most_common())
    return voices, aug


def dev_curve(metrics: list[dict]) -> str:
    table = "| update | epoch | train loss | dev loss | dev WER % | dev CER % |\n"
    table += "|---|---|---|---|---|---|\n"
    last_train: dict = {}
    for r in metrics:
        if r["split"] == "train":
            last_train = r
        elif r["split"] == "dev":
            table += (
                f"| {r['update']} | {last_train.get('epoch', '')} | "
                f"{last_train.get('loss', float('nan')):.3f} | {r['loss']:.3f} | "
                f"{r['wer']:.2f} | {r['cer']:.2f} |\n"
            )
    return table


@dataclass
class Mean:
    """The element-wise mean of model folders (`w2vc average`) made after stage `after`, kept
    in runs/`name`; `title` names its results row, `why` (default: the model soup's rationale)
    opens its section; `dtype`: how `w2vc average --dtype` stored it (default: float32)."""

    name: str
    after: int
    title: str
    inputs: list[str]
    why: str = ""
    dtype: str = ""

    @property
    def folder(self) -> str:
        return f"runs/{self.name}"


def number_word(n: int) -> str:
    """'two' ... 'twenty' for the card's prose; digits beyond."""
    words = (
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
    ).split()
    return words[n] if n < len(words) else str(n)


RESULT_COLUMNS = ("dev_greedy", "dev_lm", "eval_greedy", "eval_lm")


def row_ids(stages: int, means: list[Mean] = ()) -> list[str]:
    """The results table's row ids: stages 1..`stages`, each mean's name after its stage (and
    after the means listed before it with the same stage)."""
    ids = [str(n) for n in range(1, stages + 1)]
    for mean in means:
        if not 1 <= mean.after <= stages:
            raise ValueError(f"mean {mean.name}: no stage {mean.after} to follow")
        if mean.name in ids:
            raise ValueError(f"mean {mean.name}: the name of a stage or of another mean")
        at = ids.index(str(mean.after)) + 1
        while at < len(ids) and not ids[at].isdigit():
            at += 1
        ids.insert(at, mean.name)
    return ids


def default_shipped(stages: int, means: list[Mean]) -> str:
    """The shipped row's id when none is named: the last mean if there is one, else the last
    of `stages` stages."""
    return means[-1].name if means else str(stages)


def results_table(
    path: str, titles: list[str], means: list[Mean] = (), shipped: str | None = None
) -> tuple[str, list[str]]:
    """The stage-by-stage results (a TSV: stage, then WER and CER of each of `RESULT_COLUMNS`,
    "-" where not measured) as a markdown table whose rows are named by `titles` (stage 1's
    first) and the `means`' titles (each row, named by the mean's name, follows its stage), and
    the shipped row's four results as `w2vc evaluate` prints them. `shipped`: the shipped row's
    id (default: the last mean if there is one, else the last stage)."""
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()][1:]
    width = 1 + 2 * len(RESULT_COLUMNS)
    ids = row_ids(len(titles), means)
    if [r[0] for r in rows] != ids:
        found = ", ".join(r[0] for r in rows)
        raise ValueError(f"{path}: needs the rows {', '.join(ids)} in order, found {found}")
    named = dict(zip([str(n) for n in range(1, len(titles) + 1)], titles, strict=True))
    named.update({m.name: m.title for m in means})
    if any(len(r) != width for r in rows):
        raise ValueError(f"{path}: every row needs {width} tab-separated fields")
    lines = [
        "| stage | change | "
        + " | ".join(c.replace("_lm", " LM").replace("_", " ") for c in RESULT_COLUMNS)
        + " |",
        "|---" * (2 + len(RESULT_COLUMNS)) + "|",
    ]
    for row in rows:
        cells = [
            "-" if "-" in pair else f"{pair[0]} / {pair[1]}"
            for pair in zip(row[1::2], row[2::2], strict=True)
        ]
        lines.append(f"| {row[0]} | {named[row[0]]} | " + " | ".join(cells) + " |")
    shipped = shipped or default_shipped(len(titles), means)
    best = next(r for r in rows if r[0] == shipped)
    if "-" in best:
        raise ValueError(f"{path}: the shipped model's row ({shipped}) needs every result")
    numbers = [f"WER {w}% CER {c}%" for w, c in zip(best[1::2], best[2::2], strict=True)]
    return "\n".join(lines) + "\n", numbers
