"""The `w2vc` command line: a thin argparse layer over the library."""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_ERROR = 1
DTYPES = ("float32", "float16", "bfloat16", "int8")


def _info(args: argparse.Namespace) -> int:
    from . import Wav2Vec2ConformerConfig
    from .checkpoint import architecture_class, resolve_model_dir
    from .transcribe import bundled_or

    model_dir = resolve_model_dir(bundled_or(args.model_dir))
    config = Wav2Vec2ConformerConfig.from_pretrained(model_dir)
    cls = architecture_class(config)
    model = cls.from_pretrained(model_dir)
    c = config
    lines = [
        f"model:        {model_dir}",
        f"architecture: {cls.__name__}",
        f"parameters:   {model.num_parameters():,}",
        "stored as:    " + (c.extra.get("quantization") or c.extra.get("dtype") or "float32"),
        f"encoder:      {c.num_hidden_layers} conformer layers, width {c.hidden_size}, "
        f"{c.num_attention_heads} heads, ffn {c.intermediate_size}, "
        f"positions {c.position_embeddings_type}",
        f"features:     {len(c.conv_dim)} conv layers ({c.feat_extract_norm} norm), "
        f"{c.inputs_to_logits_ratio} samples per frame",
    ]
    vocab_path = os.path.join(model_dir, "vocab.json")
    if os.path.isfile(vocab_path):
        with open(vocab_path, encoding="utf-8") as f:
            vocab = json.load(f)
        tokens = sorted(vocab, key=vocab.get)
        lines.append(f"vocabulary:   {len(tokens)} tokens: {' '.join(tokens)}")
    elif c.vocab_size:
        lines.append(f"vocabulary:   {c.vocab_size} classes (no vocab.json)")
    print("\n".join(lines))
    return 0


def _average(args: argparse.Namespace) -> int:
    from .average import average_checkpoints
    from .transcribe import bundled_or

    inputs = [str(bundled_or(path)) for path in args.inputs]
    like = None if args.like is None else str(bundled_or(args.like))
    paths = average_checkpoints(
        inputs, args.out, last=args.last, like=like, dtype=_dtype(args.dtype)
    )
    print(f"averaged {len(paths)} checkpoints into {args.out}:", file=sys.stderr)
    for path in paths:
        print(f"  {path}", file=sys.stderr)
    return 0


def _dtype(name: str | None):
    import torch

    return None if name is None else getattr(torch, name)


def _deepen(args: argparse.Namespace) -> int:
    from .grow import deepen_folder
    from .transcribe import bundled_or

    model = deepen_folder(
        bundled_or(args.model), args.out, args.layers, args.seed, _dtype(args.dtype)
    )
    print(
        f"wrote {args.out}: {args.layers} conformer layers, {model.num_parameters():,} parameters",
        file=sys.stderr,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    """A self-contained tour of the API on a tiny random model (no download)."""
    import tempfile

    import numpy as np
    import torch

    from . import Wav2Vec2ConformerConfig, Wav2Vec2ConformerForCTC

    torch.manual_seed(0)
    config = Wav2Vec2ConformerConfig(
        vocab_size=32,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        conv_dim=[32] * 7,
        position_embeddings_type="rotary",
    )
    model = Wav2Vec2ConformerForCTC(config).eval()
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d)
        model = Wav2Vec2ConformerForCTC.from_pretrained(d)
        files = sorted(os.listdir(d))
    t = np.arange(16000) / 16000
    wave = torch.tensor(0.1 * np.sin(2 * np.pi * 440 * t), dtype=torch.float32)[None]
    with torch.no_grad():
        logits = model(wave).logits
    print(f"built a {model.num_parameters():,}-parameter Wav2Vec2ConformerForCTC, saved {files},")
    print(
        f"loaded it back and ran 1 s of audio: logits {tuple(logits.shape)} (batch, frames, vocab)"
    )
    return 0


def _lm(args: argparse.Namespace) -> int:
    from .ngram import estimate, read_sentences, read_vocabulary, write_arpa

    sentences = read_sentences(args.inputs, args.case)
    extra = read_vocabulary(args.vocabulary, sentences, args.case) if args.vocabulary else []
    model = estimate(sentences, args.order, extra, prune=args.prune)
    write_arpa(model, args.out, args.digits)
    counts = ", ".join(f"{len(model[n]):,} {n}-grams" for n in sorted(model))
    added = f" ({len(extra):,} words from {args.vocabulary})" if args.vocabulary else ""
    print(f"wrote {args.out}: {len(sentences):,} sentences -> {counts}{added}")
    return 0


def _corpus(argv: list[str]) -> int:
    from .corpus import main as corpus_main

    return corpus_main(argv)


def _positive_int(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return n


def _add_decoding_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", help="model directory, hub id or 'bundled' (default: the bundled model)"
    )
    p.add_argument("--batch-size", type=_positive_int, default=8, help="chunks per forward pass")
    p.add_argument(
        "--chunk-length",
        type=float,
        default=None,
        help="split longer audio into chunks of this many seconds (0: never; default: the "
        "model's chunk_length_s in preprocessor_config.json, else 30)",
    )
    p.add_argument(
        "--stride",
        type=float,
        default=None,
        help="seconds dropped at each inner chunk edge (default: chunk length / 6)",
    )
    p.add_argument(
        "--split-at-pauses",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cut long audio in the middle of its pauses first, each piece run on its own "
        "(default: the model's split_at_pauses in preprocessor_config.json, else no)",
    )
    p.add_argument(
        "--min-pause",
        type=float,
        default=None,
        metavar="S",
        help="with --split-at-pauses: the shortest quiet stretch cut at, in seconds "
        "(default: the model's min_pause_s in preprocessor_config.json, else 0.25)",
    )
    p.add_argument(
        "--beam-size",
        type=_positive_int,
        default=None,
        help="1: greedy decoding; more: CTC prefix beam search "
        "(default: 1, or the language model's beam size: its attrs.json's, else 32)",
    )
    p.add_argument(
        "--lm",
        help="n-gram LM (ARPA; KenLM binary with kenlm) for beam search "
        "(default: the model folder's language_model/, if any)",
    )
    p.add_argument("--no-lm", action="store_true", help="ignore the model's language model")
    p.add_argument("--alpha", type=float, help="LM weight (default: the model's, else 0.5)")
    p.add_argument("--beta", type=float, help="word bonus with an LM (default: model's, else 1)")
    p.add_argument(
        "--token-min-logp",
        type=float,
        help="beam search: a token less likely than this (natural log) at a frame starts no new "
        "prefix (default: the model's LM settings, else -5)",
    )
    p.add_argument(
        "--blank-offset",
        type=float,
        help="added to the blank's log-prob in every frame before decoding; negative: fewer "
        "letters dropped (default: the model's LM settings, else 0)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        help="divide the log-probs by this before decoding; above 1 the LM settles more of the "
        "letters the model doubts between (default: the model's LM settings, else 1)",
    )
    p.add_argument(
        "--unk-offset",
        type=float,
        help="score (natural log) of each word the LM does not know (default: the model's LM "
        "settings, else -10)",
    )
    p.add_argument("--hotword", action="append", default=[], help="a word to favour (repeatable)")
    p.add_argument("--threads", type=_positive_int, help="CPU threads for torch")


def build_parser() -> argparse.ArgumentParser:
    from .commands import evaluate_cmd, transcribe_cmd
    from .writers import FORMATS

    p = argparse.ArgumentParser(prog="w2vc", description="Wav2Vec2-Conformer speech models")
    sub = p.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("transcribe", help="speech to text for audio files or folders")
    tr.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    _add_decoding_options(tr)
    tr.add_argument("--output-format", choices=FORMATS, default="txt")
    tr.add_argument("--output-dir", help="write one file per input here (in --output-format)")
    tr.add_argument("--timestamps", choices=["word", "char"], help="word or character timings")
    tr.set_defaults(func=transcribe_cmd)

    ev = sub.add_parser("evaluate", help="WER and CER on a manifest (path<TAB>transcript)")
    ev.add_argument("manifest")
    _add_decoding_options(ev)
    ev.add_argument("--json", help="write per-utterance results to this file")
    ev.set_defaults(func=evaluate_cmd)

    from .train.cli import register as register_training

    register_training(sub)  # finetune, pretrain

    corpus = sub.add_parser(
        "corpus",
        help="synthesise an English speech corpus (see scripts/install_tts.sh)",
        add_help=False,
    )
    corpus.set_defaults(func=lambda a: _corpus([]))  # main() hands its arguments over

    lm = sub.add_parser("lm", help="estimate a word n-gram LM (ARPA) from transcripts")
    lm.add_argument("inputs", nargs="+", metavar="TEXT_OR_MANIFEST", help=".txt or .tsv files")
    lm.add_argument("--out", required=True, help="ARPA file to write (.arpa or .arpa.gz)")
    lm.add_argument("--order", type=int, default=3, help="n of the n-grams (default 3)")
    lm.add_argument(
        "--case", choices=["keep", "lower", "upper"], default="keep", help="as the vocabulary"
    )
    lm.add_argument(
        "--vocabulary",
        metavar="WORDS",
        help="a word list (one a line, e.g. /usr/share/dict/words) whose other words join the "
        "LM with the uniform share of the unigram mass; words spelled with characters the text "
        "never uses are skipped",
    )
    lm.add_argument(
        "--prune",
        type=int,
        default=0,
        metavar="N",
        help="leave out n-grams (order 2 and up) seen at most N times, for a smaller file "
        "(default 0: keep all)",
    )
    lm.add_argument(
        "--digits",
        type=int,
        default=6,
        choices=range(1, 10),
        metavar="D",
        help="decimals of the log10 probabilities written (default 6; 4 makes the file ~10%% "
        "smaller and moves no probability by more than 0.012%%)",
    )
    lm.set_defaults(func=_lm)

    avg = sub.add_parser(
        "average",
        help="average the weights of several checkpoints of one run into a model folder",
    )
    avg.add_argument(
        "inputs",
        nargs="+",
        metavar="CKPT_OR_DIR",
        help="training checkpoints (OUT/checkpoints/update_N.pt), model folders ('bundled': the "
        "model shipped in the package), or a run folder OUT (its newest checkpoints)",
    )
    avg.add_argument("--out", required=True, help="model folder to write (HF layout)")
    avg.add_argument(
        "--last", type=_positive_int, help="from a run folder, average only its newest N"
    )
    avg.add_argument(
        "--like",
        help="take config, processor and LM files from this model folder (default: the first "
        "model folder given that has a language_model/, else the first one, else the run's "
        "final/ or best/)",
    )
    avg.add_argument(
        "--dtype",
        choices=DTYPES,
        help="store the weights as this type (float16: half the bytes; int8: the large weight "
        "matrices as 8-bit integers with per-channel scales, about half again; loading casts "
        "back to float32)",
    )
    avg.set_defaults(func=_average)

    grow = sub.add_parser(
        "deepen",
        help="insert new conformer layers into a trained model; it starts computing what it did",
    )
    grow.add_argument("model", help="model folder (HF layout) to grow, or 'bundled'")
    grow.add_argument("--out", required=True, help="model folder to write")
    grow.add_argument(
        "--layers", type=_positive_int, required=True, help="conformer layers of the new model"
    )
    grow.add_argument("--seed", type=int, default=0, help="seed of the new layers' weights")
    grow.add_argument("--dtype", choices=DTYPES, help="store the weights as this type")
    grow.set_defaults(func=_deepen)

    info = sub.add_parser("info", help="summarise a model directory")
    info.add_argument(
        "model_dir", nargs="?", help="model directory, hub id or 'bundled' (default: bundled)"
    )
    info.set_defaults(func=_info)
    demo = sub.add_parser("demo", help="run a short demo of the API on a tiny random model")
    demo.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["corpus"]:  # the corpus builder parses its own options
        return _corpus(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:
        print(f"w2vc {args.command}: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
