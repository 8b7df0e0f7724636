"""`w2vc finetune` and `w2vc pretrain`: one flag per option of the job's dataclass.

`register(subparsers)` adds both subcommands to the `w2vc` parser; `main(argv)` runs them
alone (`python -m wav2vec2_conformer.train.cli finetune ...`). Options come from, in rising
priority: the dataclass defaults, `--config FILE.yaml`, the flags given.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from typing import Any

import yaml

from .config import FinetuneConfig, PretrainConfig, field_types, load_config

JOBS = {
    "finetune": (FinetuneConfig, "fine-tune a model with CTC on transcribed audio"),
    "pretrain": (PretrainConfig, "pre-train a model (wav2vec 2.0) on unlabelled audio"),
}


def _parser_for(kind: Any) -> tuple[Any, int | None, Any]:
    """(argparse type, nargs, base type) for an annotated field type."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in args if a is not type(None)]
        parse, nargs, base = _parser_for(inner)

        def optional(text: str) -> Any:
            return None if text.lower() in ("none", "null") else parse(text)

        return optional, nargs, base
    if origin is tuple:
        return args[0], len(args), args[0]
    parse = {int: int, float: float}.get(kind, str)
    return parse, None, parse


def _key_value(text: str) -> tuple[str, Any]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    parser.add_argument("--config", metavar="FILE.yaml", help="options from a YAML file")
    hints = field_types(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%")
        kw: dict[str, Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
        kind = hints[f.name]
        if kind is bool or kind == bool | None:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif kind is dict:
            parser.add_argument(flag, nargs="+", type=_key_value, metavar="KEY=VALUE", **kw)
        else:
            parse, nargs, base = _parser_for(kind)
            if f.metadata.get("choices"):
                kw["choices"] = f.metadata["choices"]
            metavar = f.metadata.get("metavar") or {int: "N", float: "X"}.get(base, "VALUE")
            metavar = None if "choices" in kw else metavar
            parser.add_argument(flag, type=parse, nargs=nargs, metavar=metavar, **kw)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `finetune` and `pretrain` to a `w2vc` subparsers object."""
    for name, (cls, help_text) in JOBS.items():
        p = subparsers.add_parser(name, help=help_text, description=cls.__doc__)
        add_options(p, cls)
        p.set_defaults(func=run, job=name)


def config_from_args(args: argparse.Namespace):
    cls = JOBS[args.job][0]
    names = {f.name for f in dataclasses.fields(cls)}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    if "model" in overrides:
        overrides["model"] = dict(overrides["model"])
    if isinstance(overrides.get("phase_ratio"), list):
        overrides["phase_ratio"] = tuple(overrides["phase_ratio"])
    return load_config(cls, args.config, **overrides)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.job == "finetune":
        from .finetune import finetune as job
    else:
        from .pretrain import pretrain as job
    result = job(cfg)
    if result.get("best"):
        best = result["best"]
        metric = next(k for k in best if k != "update")
        print(f"best dev {metric} {best[metric]:.2f}% at update {best['update']}: {cfg.out}/best")
    print(f"final model: {cfg.out}/final")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="w2vc", description="train Wav2Vec2-Conformer models")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:
        print(f"w2vc {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
