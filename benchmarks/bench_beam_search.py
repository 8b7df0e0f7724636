"""Speed of the CTC prefix beam search with the bundled model's word LM, by beam size. Prints a
markdown table.

    .venv/bin/python benchmarks/bench_beam_search.py [--seconds 30] [--beams 32 256 1024 4096]
                              [--repeats 3]

The input is real speech: the shipped examples, each followed by 0.4 s of silence, repeated up
to `--seconds`, run once through the bundled model in two ways: as one utterance, and as the
folder's settings cut it (at its pauses, then in 5 s chunks; each piece decoded alone, as
`w2vc transcribe` does). The search's cost grows with the beams alive, which a long utterance
keeps many more of than short pieces do. Each beam size decodes the log-probs with the
folder's other LM settings (`language_model/attrs.json`: alpha, beta, unknown-word offset,
token_min_logp, blank offset, temperature); each cell is the median of `--repeats` runs, the
first of which starts with a fresh LM (the search remembers, per LM, which letters follow a
partial word, so later calls are faster), and greedy decoding is timed for scale. There is no
reference column: the reference's decoder, pyctcdecode, pins numpy < 2 and does not install
beside this project.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from wav2vec2_conformer.audio import load_audio
from wav2vec2_conformer.decoder import decode_logprobs, decoding_for
from wav2vec2_conformer.lm import load_lm
from wav2vec2_conformer.transcribe import BUNDLED_MODEL, load_pipeline, transcribe_arrays


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="length of the test input")
    p.add_argument("--beams", type=int, nargs="+", default=[32, 256, 1024, 4096])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    pipe = load_pipeline(BUNDLED_MODEL)
    sr = pipe.sampling_rate
    pause = np.zeros(int(0.4 * sr), dtype=np.float32)
    clips = [load_audio(f, sr) for f in sorted(Path(BUNDLED_MODEL).parent.glob("examples/*.wav"))]
    pieces, total = [], 0
    while total < args.seconds * sr:
        for clip in clips:
            pieces += [clip, pause]
            total += len(clip) + len(pause)
    wave = np.concatenate(pieces)[: int(args.seconds * sr)]
    (whole,) = transcribe_arrays(pipe, [wave], chunk_length_s=None, split_at_pauses=False)
    (cut_lp,), (cuts,) = transcribe_arrays(pipe, [wave], return_cuts=True)
    lm_path = decoding_for(pipe).lm.path
    print(f"{len(wave) / sr:.1f} s of speech, {len(whole)} frames, {len(cuts) + 1} pieces at the")
    print(f"folder's settings; LM {lm_path.name}; seconds (x real time), median of {args.repeats}")
    print("\n| decoding | one utterance | cut as the folder says | words |\n|---|---|---|---|")
    rows = [("greedy", decoding_for(pipe, lm=False))]
    # a fresh LM per beam size: its memo starts cold, as in a new process
    for beam in args.beams:
        rows.append((f"beam {beam}", decoding_for(pipe, beam_size=beam, lm=load_lm(lm_path))))
    for name, d in rows:
        one, _ = timed(lambda d=d: decode_logprobs(pipe, whole, d), args.repeats)
        cut, res = timed(lambda d=d: decode_logprobs(pipe, cut_lp, d, cuts=cuts), args.repeats)
        rt = sr / len(wave)
        cells = f"{one:.2f} ({one * rt:.3f}) | {cut:.2f} ({cut * rt:.3f})"
        print(f"| {name} | {cells} | {len(res.text.split())} |")


if __name__ == "__main__":
    main()
