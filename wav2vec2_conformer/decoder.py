"""How a transcription's log-probs become text: the settings (`Decoding`), the ones a model
folder's `language_model/attrs.json` tunes for its LM (`decoding_for`), and their use on one
input's frames (`decode_logprobs`: temperature and blank offset, then greedy or beam search,
each piece of an input cut at its pauses decoded as a sentence of its own)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .decoding import (
    DecodeResult,
    adjust_frames,
    check_blank_offset,
    check_temperature,
    greedy_decode,
    join_results,
)

if TYPE_CHECKING:
    from .transcribe import ASRPipeline

LM_FOLDER = "language_model"  # a model folder's n-gram LM: an ARPA/KenLM file + attrs.json
LM_SUFFIXES = (".arpa", ".arpa.gz", ".bin", ".binary")
DEFAULT_LM_BEAM = 32


@dataclass
class Decoding:
    """How log-probabilities become text: greedy (beam_size 1, no LM, no hotwords) or CTC prefix
    beam search with an n-gram LM (weights alpha, beta, unk_offset; None: the search's
    defaults) and hotwords. `token_min_logp`: how likely a token must be at a frame to start new
    prefixes (None: the search's default). `blank_offset`: added to the blank's log-prob in every
    frame (renormalised) before decoding; negative: fewer letters dropped (`adjust_frames`).
    `temperature`: the log-probs are divided by it (renormalised) first; above 1, the LM settles
    more of the letters the model doubts between."""

    beam_size: int = 1
    lm: Any = None  # a loaded LM (`lm.load_lm`)
    alpha: float | None = None
    beta: float | None = None
    unk_offset: float | None = None
    hotwords: tuple[str, ...] = ()
    token_min_logp: float | None = None
    blank_offset: float = 0.0
    temperature: float = 1.0

    def __post_init__(self) -> None:  # checked before the model runs, not after
        check_blank_offset(self.blank_offset)
        check_temperature(self.temperature)
        if self.unk_offset is not None and not np.isfinite(self.unk_offset):
            raise ValueError(f"unk_offset must be a finite number, got {self.unk_offset}")


def model_language_model(model_dir: str | os.PathLike) -> tuple[Path, dict] | None:
    """(LM file, attrs) of `model_dir/language_model/`, or None when it has none.

    attrs.json holds the decoding settings tuned for it: alpha, beta, unk_score_offset,
    beam_size and token_min_logp (the names pyctcdecode uses), blank_offset and temperature
    (ours)."""
    folder = Path(model_dir) / LM_FOLDER
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.name.endswith(LM_SUFFIXES))
    if not files:
        raise ValueError(f"{folder}: no language model file ({', '.join(LM_SUFFIXES)})")
    attrs_path = folder / "attrs.json"
    try:
        attrs = json.loads(attrs_path.read_text(encoding="utf-8")) if attrs_path.exists() else {}
    except (OSError, ValueError) as e:
        raise ValueError(f"{attrs_path}: not readable JSON ({e})") from None
    return files[0], attrs


def decoding_for(
    pipe: ASRPipeline,
    beam_size: int | None = None,
    lm: Any = None,
    hotwords: Iterable[str] = (),
    alpha: float | None = None,
    beta: float | None = None,
    token_min_logp: float | None = None,
    blank_offset: float | None = None,
    temperature: float | None = None,
    unk_offset: float | None = None,
) -> Decoding:
    """Decoding settings. `lm`: an LM path or loaded LM, False for none, or None for the model
    folder's language_model/ when it has one (with its attrs.json settings). `beam_size` None:
    the LM's beam size (attrs, else 32) with an LM, 1 without. `token_min_logp`,
    `blank_offset`, `temperature` and `unk_offset` (the score of a word the LM does not know)
    None: the LM's (attrs), else the beam search's defaults, 0, 1 and -10."""
    attrs: dict = {}
    if lm is None and pipe.model_dir is not None:
        found = model_language_model(pipe.model_dir)
        if found is not None:
            lm, attrs = found
    if lm is None or lm is False:
        if alpha is not None or beta is not None or unk_offset is not None:
            raise ValueError(
                "alpha, beta and unk_offset weight a language model, and none is in use"
            )
        return Decoding(
            beam_size or 1,
            hotwords=tuple(hotwords),
            token_min_logp=token_min_logp,
            blank_offset=blank_offset or 0.0,
            temperature=1.0 if temperature is None else temperature,
        )
    if isinstance(lm, str | os.PathLike):
        from .lm import load_lm

        lm = load_lm(lm)
    return Decoding(
        beam_size=beam_size or int(attrs.get("beam_size", DEFAULT_LM_BEAM)),
        lm=lm,
        alpha=attrs.get("alpha") if alpha is None else alpha,
        beta=attrs.get("beta") if beta is None else beta,
        unk_offset=attrs.get("unk_score_offset") if unk_offset is None else unk_offset,
        hotwords=tuple(hotwords),
        token_min_logp=attrs.get("token_min_logp") if token_min_logp is None else token_min_logp,
        blank_offset=float(
            attrs.get("blank_offset", 0.0) if blank_offset is None else blank_offset
        ),
        temperature=float(attrs.get("temperature", 1.0) if temperature is None else temperature),
    )


def decode_logprobs(
    pipe: ASRPipeline,
    logp: np.ndarray,
    decoding: Decoding,
    timestamps: bool = False,
    cuts: Sequence[int] = (),
) -> DecodeResult:
    """Text (and timings) of one input's log-probs. `cuts`: frames where the pieces of an input
    cut at its pauses begin; each piece is decoded as a sentence of its own (the model writes no
    word delimiter in the silence at a piece's edges) and the results are joined."""
    spf = pipe.samples_per_frame / pipe.sampling_rate
    if len(cuts):
        bounds = [0, *cuts, len(logp)]
        parts = [
            (a, decode_logprobs(pipe, logp[a:b], decoding, timestamps))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return join_results(parts, spf)
    d = decoding
    logp = adjust_frames(logp, pipe.vocab.blank_id, d.temperature, d.blank_offset)
    if d.beam_size <= 1 and d.lm is None and not d.hotwords:
        return greedy_decode(logp, pipe.vocab, timestamps=timestamps, seconds_per_frame=spf)
    from .beam_search import beam_search_decode

    return beam_search_decode(
        logp,
        pipe.vocab,
        beam_size=max(d.beam_size, 1),
        lm=d.lm,
        alpha=d.alpha,
        beta=d.beta,
        unk_offset=d.unk_offset,
        hotwords=list(d.hotwords),
        timestamps=timestamps,
        seconds_per_frame=spf,
        token_min_logp=d.token_min_logp,
    )


def decode_texts(
    pipe: ASRPipeline,
    logps: Sequence[np.ndarray],
    cuts: Sequence[Sequence[int]],
    decoding: Decoding,
) -> list[str]:
    """The text of each input's log-probs (`transcribe_arrays(..., return_cuts=True)`)."""
    return [
        decode_logprobs(pipe, lp, decoding, cuts=cut).text
        for lp, cut in zip(logps, cuts, strict=True)
    ]
