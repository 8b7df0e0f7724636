"""Forward (inference) and forward+backward (training) speed of our model against the reference
(transformers) on the same weights, side by side in one run. Prints a markdown table.

    .venv/bin/python benchmarks/bench_model.py [--preset base|tiny|tiny-40ms|...] [--seconds 10]
                              [--batch 2] [--repeats 5] [--device cpu|cuda] [--dtype fp32|bf16]

Each cell is the median of `--repeats` timed runs after one warm-up; the ratio column is
reference time / our time (above 1: we are faster); the two models run interleaved so
that load from other processes hits both alike. Needs the test extra (transformers).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import wav2vec2_conformer as w

LAYOUTS = {
    # the released facebook/wav2vec2-conformer-rel-pos-large layout, 4 layers to keep CPU runs short
    "large4": dict(
        hidden_size=1024,
        num_hidden_layers=4,
        num_attention_heads=16,
        intermediate_size=4096,
        feat_extract_norm="layer",
        conv_bias=True,
        position_embeddings_type="relative",
    ),
    "base": dict(position_embeddings_type="rotary"),  # 12 layers x 768, the config defaults
    "tiny": dict(
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        conv_dim=[128, 128, 128, 256, 256, 256, 256],
        position_embeddings_type="rotary",
    ),
}
# candidates for a faster bundled model: 40 ms frames (last conv stride 4), and thinner early
# conv layers on top; the conformer and the CTC targets are unchanged
LAYOUTS["tiny-40ms"] = dict(
    LAYOUTS["tiny"], conv_stride=[5, 2, 2, 2, 2, 2, 4], conv_kernel=[10, 3, 3, 3, 3, 2, 4]
)
LAYOUTS["tiny-40ms-thin"] = dict(LAYOUTS["tiny-40ms"], conv_dim=[64, 64, 128, 128, 256, 256, 256])


def timed_pair(fn_a, fn_b, repeats: int, device: str) -> tuple[float, float]:
    """Median times of two functions, interleaved (a, b, a, b, ...) so that load from other
    processes on this noisy machine hits both alike."""
    fn_a(), fn_b()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((fn_a, times[0]), (fn_b, times[1])):
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            out.append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="base", choices=sorted(LAYOUTS))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    args = ap.parse_args()

    import transformers

    torch.manual_seed(0)
    kw = dict(LAYOUTS[args.preset], vocab_size=32, layerdrop=0.0, mask_time_prob=0.0)
    ref_cfg = transformers.Wav2Vec2ConformerConfig(**kw)
    ref_cfg._attn_implementation = "sdpa"
    ref = transformers.Wav2Vec2ConformerForCTC(ref_cfg)
    with tempfile.TemporaryDirectory() as d:
        ref.save_pretrained(d)
        ours = w.Wav2Vec2ConformerForCTC.from_pretrained(d)
    dev = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    ref, ours = ref.to(dev).eval(), ours.to(dev).eval()
    n = int(args.seconds * 16000)
    x = torch.randn(args.batch, n, device=dev)
    labels = torch.randint(1, 32, (args.batch, int(args.seconds * 12)), device=dev)

    def infer(model):
        def run():
            with (
                torch.no_grad(),
                torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32),
            ):
                model(x).logits.float().sum().item()

        return run

    def train(model):
        def run():
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = model(x, labels=labels).loss
            loss.backward()
            model.zero_grad(set_to_none=True)

        return run

    rows = []
    for name, make in [("inference", infer), ("train step", train)]:
        t_ref, t_ours = timed_pair(make(ref), make(ours), args.repeats, args.device)
        rows.append((name, t_ref, t_ours))
    params = ours.num_parameters() / 1e6
    print(
        f"\n{args.preset} ({params:.1f}M params), batch {args.batch} x {args.seconds:g} s, "
        f"{args.device}, {args.dtype}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, median of {args.repeats}\n"
    )
    print("| pass | reference (s) | ours (s) | ours audio-s/s | speed-up |")
    print("|---|---|---|---|---|")
    for name, t_ref, t_ours in rows:
        rate = args.batch * args.seconds / t_ours
        print(f"| {name} | {t_ref:.3f} | {t_ours:.3f} | {rate:.1f} | {t_ref / t_ours:.2f}x |")


if __name__ == "__main__":
    main()
