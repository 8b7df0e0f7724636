"""Write the bundled model's card (README.md) from its training runs, corpus and evaluation.

    python scripts/model_card.py --corpus data/corpus \
        --stage "less regularisation" scripts/bundled_model_stage2.yaml \
            scripts/bundled_runs/stage2 "" \
        --stage "speed perturbation" scripts/bundled_model_stage3.yaml \
            scripts/bundled_runs/stage3 "" \
        --mean mean 3 "the mean of stages 2 and 3" runs/stage2/final runs/stage3/final \
        --baseline "WER 36.00% CER 18.00%" --heldout-baseline "WER 30.00% CER 15.00%" \
        --voices dev_voices.md --out wav2vec2_conformer/assets/model/README.md

Everything in the card comes from files: each `--stage`'s options file, train_config.yaml,
train.log and metrics.jsonl (its dev curve; the stage its `init` names is the one it started
from), stage 1's record (`--history`, a run whose folder was not kept), every stage's results
(`--results`; `--shipped` names the shipped model's row), the corpus's voices.json and
train.jsonl (voices, hours, augmentation), the model's config.json and the per-voice table of
`scripts/voice_breakdown.py`. The shipped weights are the last stage's final ones, the mean of
its newest checkpoints (`--average`) or a mean of model folders (`--mean`, which may name
folders a command made, `--derived`); each mean has its section and results row after its stage.
The tables and run records it reads live in scripts/card_tables.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

import yaml
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from card_tables import (  # noqa: E402
    Mean,
    corpus_tables,
    default_shipped,
    dev_curve,
    number_word,
    read_jsonl,
    results_table,
    row_ids,
    wall_time,
)

from wav2vec2_conformer.beam_search import DEFAULT_TOKEN_MIN_LOGP  # noqa: E402
from wav2vec2_conformer.decoder import model_language_model  # noqa: E402
from wav2vec2_conformer.feature_extraction import load_feature_extractor_dict  # noqa: E402
from wav2vec2_conformer.fileio import atomic_write_text  # noqa: E402
from wav2vec2_conformer.pieces import chunk_settings  # noqa: E402
from wav2vec2_conformer.quantize import SCALE_SUFFIX  # noqa: E402

STAGE = """### Stage {n}: {title}{shipped}

{note}{updates:,} updates ({epochs:.1f} epochs over train) from {source} in
{wall_hours:.1f} h of wall time, with the options of `{options_path}`; the run's
`train_config.yaml` (every option with its effective value), `train.log` and `metrics.jsonl`
are kept in `{run}/`:

```yaml
{options}
```

Dev curve (greedy decoding of the whole dev set at each evaluation{final_note}):

{curve}"""

COMMAND = """w2vc finetune --config {options_path} --init {init} \\
    --train {train} --dev {dev} --out runs/stage{n}  # stage {n}
"""


AVERAGE = """w2vc average runs/stage{n} --last {k} --out runs/stage{n}/avg{k}  # the shipped weights
"""

STORED_DIR = "runs/shipped"

STORE = """w2vc average {model} --dtype {dtype} --out {out}  # the shipped weights, as {dtype}
"""

MEAN = """### {heading}

{why}
The mean (`{folder}`) averages these model folders (in parentheses, for a stage's: the update
they were saved at and its training-time greedy dev CER):

{inputs}
"""

SOUP = """Fine-tuned from shared weights, the runs above end near one minimum, each a little off
it in its own direction; the element-wise mean of their weights (`w2vc average`, a "model
soup", Wortsman et al. 2022) sits nearer the middle and scores better than any one of them, at
no cost when transcribing. Its folders were chosen on dev."""


INIT_STAGE = re.compile(r"runs/stage(\d+)/")
MODEL_DIR = re.compile(r"runs/stage(\d+)/(final|best)$")
# Stages 2 and 3 started from the package's model folder while it held the previous stage's
# model; later stages that name it (stage 26) started from what it ships, a --derived folder.
PACKAGE_AS_PREVIOUS = range(2, 4)


def init_source(
    options: dict,
    n: int,
    derived: dict[str, tuple[str, str]] | None = None,
    means: list[Mean] = (),
) -> tuple[str, str]:
    """What stage `n` started from, in words, and the `--init` of its reproduce command: a
    folder made by a command of `derived` ({folder: (command, words)}), one of the `means`'
    folders, the stage its `init` names (`runs/stageK/...`), else the previous stage (stages 2
    and 3 named the package's model folder, which held the previous stage's model then:
    `PACKAGE_AS_PREVIOUS`)."""
    init = str(options.get("init", "")).rstrip("/")
    if derived and init in derived and n not in PACKAGE_AS_PREVIOUS:
        return derived[init][1], init
    if init in {m.folder for m in means}:
        return f"the mean's weights (`{init}`)", init
    m = INIT_STAGE.search(init)
    k = int(m[1]) if m else n - 1
    if MODEL_DIR.match(init):
        return f"stage {k}'s weights", init
    return f"stage {k}'s weights", "runs/bundled/final" if k == 1 else f"runs/stage{k}/final"


def mean_section(
    mean: Mean,
    dev_rows: dict[int, list[dict]],
    shipped: bool = True,
    derived: dict[str, tuple[str, str]] | None = None,
) -> tuple[str, str]:
    """The card's section on `mean`, whose folders are the stages' runs (`runs/stageN/final`
    or `runs/stageN/best`; `dev_rows`: each stage's dev evaluations) or folders of `derived`,
    and its reproduce command; `shipped`: the mean is the shipped model."""
    lines = []
    for path in mean.inputs:
        m = MODEL_DIR.match(path)
        if derived and path in derived:
            lines.append(f"- `{path}`: {derived[path][1]}")
            continue
        if not m or int(m[1]) not in dev_rows:
            raise ValueError(
                f"{path}: not runs/stageN/final or runs/stageN/best of a stage, nor a derived "
                "folder"
            )
        dev = dev_rows[int(m[1])]
        row = min(dev, key=lambda r: r["cer"]) if m[2] == "best" else dev[-1]
        what = "dev-best" if m[2] == "best" else "final"
        lines.append(
            f"- `{path}`: stage {m[1]}'s {what} weights (update {row['update']:,}, "
            f"{row['cer']:.2f}%)"
        )
    count = len(mean.inputs)
    section = MEAN.format(
        heading=("The shipped weights: the mean" if shipped else "The mean")
        + f" of {number_word(count)} model{'s' if count != 1 else ''} (`{mean.folder}`)",
        why=mean.why or SOUP,
        folder=mean.folder,
        inputs="\n".join(lines),
    )
    command = (
        "w2vc average "
        + " \\\n    ".join(mean.inputs)
        + f" \\\n    --out {mean.folder}"
        + (f" --dtype {mean.dtype}" if mean.dtype else "")
        + ("  # the shipped weights\n" if shipped else "\n")
    )
    return section, command


def shipped_note(average: int, save_every: int) -> str:
    if not average:
        return "; the shipped weights\nare the final ones"
    return (
        f"; the shipped weights are the mean of the\nnewest {average} checkpoints, "
        f"{save_every} updates apart (`w2vc average`)"
    )


def stage_sections(
    stages: list[list[str]],
    average: int = 0,
    means: list[Mean] = (),
    shipped: str | None = None,
    derived: dict[str, tuple[str, str]] | None = None,
) -> tuple[str, str]:
    """The card's sections and reproduce commands of the run-backed stages (2, 3, ...), each of
    the `means` after its stage. `shipped` names the shipped model: a stage's number or a
    mean's name (default: the last mean if there is one, else the last stage); with `average`,
    a shipped stage ships the mean of its newest `average` checkpoints. `derived`: folders that
    stages or means start from, made by a command ({folder: (command, words)}; see
    `init_source`), which goes before the first command that needs it."""
    shipped = shipped or default_shipped(len(stages) + 1, means)
    derived = derived or {}
    blocks, dev_rows = [], {}  # blocks: (order, section, command, derived folders it needs)
    for i, (title, options_path, run, note) in enumerate(stages):
        n = i + 2
        ships = shipped == str(n)
        log = os.path.join(run, "train.log")
        options = yaml.safe_load(open(os.path.join(run, "train_config.yaml"), encoding="utf-8"))
        metrics = read_jsonl(os.path.join(run, "metrics.jsonl"))
        source, init = init_source(options, n, derived, means)
        dev_rows[n] = [r for r in metrics if r["split"] == "dev"]
        updates = [r for r in metrics if r["split"] == "train"][-1]["update"]
        per_epoch = int(
            re.search(r"(\d+) batches per epoch", open(log, encoding="utf-8").read())[1]
        )
        section = STAGE.format(
            n=n,
            source=source,
            title=title,
            note=f"{note} " if note else "",
            run=run,
            shipped=" (the shipped weights)" if ships else "",
            updates=updates,
            epochs=updates / per_epoch,
            wall_hours=wall_time(log).total_seconds() / 3600,
            options_path=options_path,
            options=open(options_path, encoding="utf-8").read().strip(),
            final_note=shipped_note(average, options.get("save_every", 0)) if ships else "",
            curve=dev_curve(metrics),
        )
        command = COMMAND.format(
            n=n, options_path=options_path, init=init, train=options["train"], dev=options["dev"]
        )
        if ships and average:
            command += AVERAGE.format(n=n, k=average)
        blocks.append(((n, 0), section, command, [init]))
    for k, mean in enumerate(means, 1):
        earlier = {m.folder: ("", f"the mean {m.name} above") for m in means[: k - 1]}
        section, command = mean_section(
            mean, dev_rows, shipped == mean.name, {**(derived or {}), **earlier}
        )
        blocks.append(((mean.after, k), section, command, mean.inputs))
    sections, commands, made = [], [], set()
    for _, section, command, needs in sorted(blocks, key=lambda b: b[0]):
        for folder in needs:
            if folder in derived and folder not in made:
                commands.append(derived[folder][0] + "\n")
                made.add(folder)
        sections.append(section)
        commands.append(command)
    return "\n".join(sections), "".join(commands)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--stage",
        nargs=4,
        action="append",
        required=True,
        metavar=("TITLE", "OPTIONS", "RUN", "NOTE"),
        help="a stage after stage 1, in order: title, its --config, its kept run folder, a note",
    )
    p.add_argument("--corpus", required=True, help="the corpus folder (w2vc corpus --out)")
    p.add_argument("--model", default="wav2vec2_conformer/assets/model")
    p.add_argument(
        "--results",
        default="scripts/bundled_runs/results.tsv",
        help="every stage's and mean's dev and eval WER / CER, greedy and with the LM, in the "
        "card's order",
    )
    p.add_argument("--baseline", required=True, help="scripts/pocketsphinx_baseline.py on dev")
    p.add_argument("--heldout-baseline", required=True, help="the baseline on the eval split")
    p.add_argument("--history", default="scripts/bundled_runs/stage1.md", help="earlier stages")
    p.add_argument("--voices", required=True, help="scripts/voice_breakdown.py's table on dev")
    p.add_argument("--discussion", default="", help="a paragraph on what the numbers say")
    p.add_argument(
        "--average",
        type=int,
        default=0,
        metavar="N",
        help="the shipped weights average the last stage's newest N checkpoints (w2vc average)",
    )
    p.add_argument(
        "--mean",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME AFTER TITLE DIR",
        help="a mean of model folders (runs/stageN/final or best, or --derived folders; w2vc "
        "average) kept in runs/NAME, made after stage AFTER (its section, command and results "
        "row, named NAME and TITLE, follow that stage's); repeat for several",
    )
    p.add_argument(
        "--mean-why",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "TEXT"),
        help="the paragraph that opens mean NAME's section (default: the model soup's case)",
    )
    p.add_argument(
        "--mean-dtype",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "DTYPE"),
        help="mean NAME was stored as DTYPE (`w2vc average --dtype`; default float32)",
    )
    p.add_argument(
        "--shipped",
        metavar="ID",
        help="the shipped model: a stage's number or a mean's NAME (default: the last --mean, "
        "else the last stage)",
    )
    p.add_argument(
        "--derived",
        nargs=3,
        action="append",
        default=[],
        metavar=("DIR", "COMMAND", "WORDS"),
        help="a folder a stage's init names, made by COMMAND (put in the reproduce commands "
        "before that stage's) and described by WORDS (e.g. \"the mean's weights deepened\")",
    )
    p.add_argument(
        "--data-command",
        action="append",
        default=[],
        metavar="CMD",
        help="a command that makes a later stage's data, listed after the corpus build",
    )
    p.add_argument(
        "--supplement",
        action="append",
        default=[],
        metavar="TEXT",
        help="a line on training data a later stage added to the corpus (a Data bullet)",
    )
    p.add_argument(
        "--store-dtype",
        choices=("float16", "bfloat16", "int8"),
        help="the shipped weights are stored as this type (`w2vc average --dtype` into "
        f"{STORED_DIR})",
    )
    p.add_argument("--out", required=True)
    args = p.parse_args()

    model_cfg = json.load(open(os.path.join(args.model, "config.json"), encoding="utf-8"))
    found = model_language_model(args.model)
    if found is None:
        p.error(f"{args.model}: no language_model/ (the card gives its decoding settings)")
    _, lm = found
    chunk_length, split_at_pauses, _ = chunk_settings(load_feature_extractor_dict(args.model))
    voices_json = json.load(open(os.path.join(args.corpus, "voices.json"), encoding="utf-8"))
    voices_table, augment = corpus_tables(args.corpus)
    weights = os.path.join(args.model, "model.safetensors")
    size = os.path.getsize(weights) / 2**20
    with safe_open(weights, "pt") as f:
        params = sum(  # an int8 folder's scales are not parameters
            math.prod(f.get_slice(k).get_shape()) for k in f.keys() if not k.endswith(SCALE_SUFFIX)
        )
    dev_voices = ", ".join(sorted(voices_json["dev"]["voices"]))
    first_run = os.path.join(args.stage[0][2], "train_config.yaml")
    effective = yaml.safe_load(open(first_run, encoding="utf-8"))
    why, dtypes = dict(args.mean_why), dict(args.mean_dtype)
    means = []
    for fields in args.mean:
        if len(fields) < 4 or not fields[1].isdigit():
            p.error(f"--mean {' '.join(fields)}: needs NAME AFTER TITLE DIR [DIR ...]")
        name, after, title, *inputs = fields
        means.append(Mean(name, int(after), title, inputs, why.pop(name, ""), dtypes.pop(name, "")))
    if why or dtypes:
        p.error(f"--mean-why/--mean-dtype {', '.join([*why, *dtypes])}: no such --mean")
    if means and args.average:
        p.error("--mean and --average exclude each other")
    try:
        ids = row_ids(len(args.stage) + 1, means)
    except ValueError as e:
        p.error(str(e))
    shipped = args.shipped or default_shipped(len(args.stage) + 1, means)
    if shipped not in ids:
        p.error(f"--shipped {shipped}: no such stage or mean")
    derived = {d.rstrip("/"): (cmd, words) for d, cmd, words in args.derived}
    stages, stage_commands = stage_sections(args.stage, args.average, means, shipped, derived)
    titles = ["fresh model, the tiny preset"] + [stage[0] for stage in args.stage]
    results, (dev_greedy, dev_lm, eval_greedy, eval_lm) = results_table(
        args.results, titles, means, shipped
    )
    shipped_mean = next((m for m in means if m.name == shipped), None)
    if shipped_mean:
        final = shipped_mean.folder
    else:
        final = f"runs/stage{shipped}/" + (f"avg{args.average}" if args.average else "final")
    if args.store_dtype:
        stage_commands += STORE.format(model=final, dtype=args.store_dtype, out=STORED_DIR)
        final = STORED_DIR
    template = open(os.path.join(os.path.dirname(__file__), "model_card.md"), encoding="utf-8")
    text = template.read().format(
        eval=dev_greedy,
        lm_eval=dev_lm,
        baseline=args.baseline,
        heldout=eval_greedy,
        heldout_lm=eval_lm,
        results=results,
        heldout_baseline=args.heldout_baseline,
        eval_utts=voices_json["eval"]["utterances"],
        eval_voices=", ".join(sorted(voices_json["eval"]["voices"])),
        size_mb=size,
        dtype=(
            f"{model_cfg['quantization']}, the rest {model_cfg.get('dtype', 'float32')}"
            if model_cfg.get("quantization")
            else model_cfg.get("dtype", "float32")
        ),
        params_m=params / 1e6,
        hidden=model_cfg["hidden_size"],
        layers=model_cfg["num_hidden_layers"],
        heads=model_cfg["num_attention_heads"],
        ffn=model_cfg["intermediate_size"],
        positions=model_cfg["position_embeddings_type"],
        conv_dim=model_cfg["conv_dim"],
        vocab=model_cfg["vocab_size"],
        train_hours=voices_json["train"]["hours"],
        train_utts=voices_json["train"]["utterances"],
        train_voices=len(voices_json["train"]["voices"]),
        dev_hours=voices_json["dev"]["hours"],
        dev_utts=voices_json["dev"]["utterances"],
        dev_voices=dev_voices,
        voices_table=voices_table,
        augment=augment,
        preset=effective["preset"],
        history=open(args.history, encoding="utf-8").read(),
        voices=open(args.voices, encoding="utf-8").read().strip(),
        discussion=args.discussion,
        n_stages=number_word(len(args.stage) + 1),
        stages=stages,
        stage_commands=stage_commands,
        data_commands="".join(c + "\n" for c in args.data_command),
        supplements="".join(f"- {t}\n" for t in args.supplement),
        final=final,
        alpha=lm["alpha"],
        beta=lm["beta"],
        unk_offset=f"{lm['unk_score_offset']:g}",
        beam=lm["beam_size"],
        token_min=f"{lm.get('token_min_logp', DEFAULT_TOKEN_MIN_LOGP):g}",
        blank=f"{lm.get('blank_offset', 0.0):g}",
        temperature=f"{lm.get('temperature', 1.0):g}",
        chunk_length=f"{chunk_length or 0:g}",
        split_at_pauses=json.dumps(split_at_pauses),
    )
    atomic_write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
