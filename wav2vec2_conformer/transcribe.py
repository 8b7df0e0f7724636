"""Speech to text: load audio, normalise, cut long inputs, batch by length, decode.

Long inputs are cut into overlapping chunks of `chunk_length_s`; each chunk's logits lose
`stride_s` at either inner edge and the rest is stitched. With `split_at_pauses`, an input is
first cut in the middle of its pauses (`segment.pause_cuts`); each piece is normalised and run
on its own (and chunked if still long). `pieces.py` plans, batches and stitches the pieces.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .audio import AudioError, load_audio
from .decoder import decode_logprobs, decoding_for
from .decoding import CTCVocab, WordTiming
from .pieces import (
    MODEL_SETTING,
    Piece,
    chunk_settings,
    plan_pieces,
    resolve_chunk_length,
    resolve_min_pause,
    resolve_split,
    run_pieces,
    stitch,
)

BUNDLED_MODEL = Path(__file__).parent / "assets" / "model"


@dataclass
class Transcription:
    text: str
    duration_s: float  # audio length in seconds
    words: list[WordTiming] | None = None  # with return_timestamps="word" or "char"
    chars: list | None = None  # with return_timestamps="char"
    source: str | None = None  # the file's path, when transcribing files

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "duration_s": round(self.duration_s, 3)}
        if self.source is not None:
            out["path"] = self.source
        if self.words is not None:
            out["words"] = [
                {"word": w.word, "start": round(w.start_s, 3), "end": round(w.end_s, 3)}
                for w in self.words
            ]
        if self.chars is not None:
            out["chars"] = [
                {"char": c.char, "start": round(c.start_s, 3), "end": round(c.end_s, 3)}
                for c in self.chars
            ]
        return out


@dataclass
class ASRPipeline:
    """A CTC model with its processor and decoding vocabulary, ready to transcribe."""

    model: Any  # Wav2Vec2ConformerForCTC
    processor: Any  # Wav2Vec2Processor
    model_dir: str | None = None  # where it was loaded from (its language_model/, if any)
    vocab: CTCVocab = field(init=False)

    def __post_init__(self) -> None:
        tok = self.processor.tokenizer
        specials = [t for t in (tok.bos_token, tok.eos_token, tok.unk_token) if t]
        self.vocab = CTCVocab.from_vocab_dict(
            tok.get_vocab(),
            blank=tok.pad_token,
            word_delimiter=tok.word_delimiter_token,
            specials=specials,
        )
        if len(self.vocab) != self.model.config.vocab_size:
            raise ValueError(
                f"the tokenizer has {len(self.vocab)} tokens but the model outputs "
                f"{self.model.config.vocab_size} classes"
            )
        # batches of mixed lengths give each input's frames alone (see `pieces.run_pieces`)
        self.model.mask_padding_in_convs()

    @property
    def sampling_rate(self) -> int:
        return self.processor.feature_extractor.sampling_rate

    @property
    def samples_per_frame(self) -> int:
        return self.model.config.inputs_to_logits_ratio

    @property
    def long_input_settings(self) -> tuple[float | None, bool, float]:
        """The model's chunk length, whether it cuts at pauses, and its shortest pause
        (`chunk_settings` of its feature extractor config)."""
        return chunk_settings(getattr(self.processor.feature_extractor, "extra", {}))

    @property
    def chunk_length_s(self) -> float | None:
        return self.long_input_settings[0]

    @property
    def split_at_pauses(self) -> bool:
        return self.long_input_settings[1]

    @property
    def min_pause_s(self) -> float:
        return self.long_input_settings[2]


def bundled_or(model: str | os.PathLike | None) -> str | os.PathLike:
    """`model`, or the bundled model's folder for None or "bundled" (unless a folder of that
    name exists)."""
    if model is None or (str(model) == "bundled" and not os.path.exists(model)):
        if not (BUNDLED_MODEL / "config.json").is_file():
            raise FileNotFoundError("no bundled model in this installation; pass a model directory")
        return BUNDLED_MODEL
    return model


def load_pipeline(model: str | os.PathLike | ASRPipeline | None = None) -> ASRPipeline:
    """A model directory (HF layout with processor files), a hub id, an `ASRPipeline`, or None
    (or "bundled") for the model shipped inside the package."""
    if isinstance(model, ASRPipeline):
        return model
    from .checkpoint import resolve_model_dir
    from .heads import Wav2Vec2ConformerForCTC
    from .processor import Wav2Vec2Processor

    path = resolve_model_dir(bundled_or(model))
    if not os.path.isfile(os.path.join(path, "vocab.json")):
        raise ValueError(f"{path}: no vocab.json; a transcription model needs its processor files")
    pipe = ASRPipeline(
        Wav2Vec2ConformerForCTC.from_pretrained(path),
        Wav2Vec2Processor.from_pretrained(path),
        model_dir=str(path),
    )
    try:
        _ = pipe.long_input_settings  # a bad setting fails here, naming the file
    except ValueError as e:
        raise ValueError(f"{path}: preprocessor_config.json: {e}") from None
    return pipe


def transcribe_arrays(
    pipe: ASRPipeline,
    waveforms: Sequence[np.ndarray],
    *,
    batch_size: int = 8,
    chunk_length_s: float | str | None = MODEL_SETTING,
    stride_s: float | None = None,
    split_at_pauses: bool | str = MODEL_SETTING,
    return_cuts: bool = False,
    min_pause_s: float | str = MODEL_SETTING,
) -> list[np.ndarray] | tuple[list[np.ndarray], list[list[int]]]:
    """Log-probabilities (frames, vocab) per waveform (already at the model's rate), cut at
    pauses of at least `min_pause_s` seconds if `split_at_pauses`, and in chunks
    (`chunk_length_s`: seconds, None for never); "model" for any: the model's own setting.
    With `return_cuts`, also each waveform's pause cuts as frame indices, for
    `decode_logprobs(cuts=...)`."""
    sr, hop = pipe.sampling_rate, pipe.samples_per_frame
    chunk_length_s = resolve_chunk_length(chunk_length_s, pipe)
    split = resolve_split(split_at_pauses, pipe)
    min_pause_s = resolve_min_pause(min_pause_s, pipe)
    need = pipe.model.config.receptive_field
    chunk = int(round((chunk_length_s or 0) * sr / hop)) * hop
    if stride_s is None:
        stride_s = (chunk_length_s or 0) / 6
    stride = max(int(round(stride_s * sr / hop)), 1) * hop
    fe = pipe.processor.feature_extractor

    def normalise(samples: np.ndarray) -> np.ndarray:
        return fe(samples, sampling_rate=sr, return_tensors="np")["input_values"][0]

    pieces: list[Piece] = []
    cut_frames: list[list[int]] = []
    for item, wav in enumerate(waveforms):
        if len(wav) < need:
            raise AudioError(f"audio of {len(wav)} samples is shorter than the model's {need}")
        more, cuts = plan_pieces(
            wav, item, normalise, sampling_rate=sr, hop=hop, need=need, chunk=chunk,
            stride=stride, split=split, min_pause_s=min_pause_s,
        )  # fmt: skip
        pieces += more
        cut_frames.append(cuts)
    use_mask = bool(fe.return_attention_mask)
    logps = run_pieces(pipe.model, pieces, batch_size, hop, use_mask)
    out = stitch(pieces, logps, len(waveforms))
    return (out, cut_frames) if return_cuts else out


def transcribe(
    audio_or_paths: Any,
    model: str | os.PathLike | ASRPipeline | None = None,
    *,
    batch_size: int = 8,
    chunk_length_s: float | str | None = MODEL_SETTING,
    stride_s: float | None = None,
    split_at_pauses: bool | str = MODEL_SETTING,
    min_pause_s: float | str = MODEL_SETTING,
    beam_size: int | None = None,
    lm: Any = None,
    hotwords: Iterable[str] = (),
    return_timestamps: str | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    token_min_logp: float | None = None,
    blank_offset: float | None = None,
    temperature: float | None = None,
    unk_offset: float | None = None,
) -> Transcription | list[Transcription]:
    """Transcribe audio: a path, a 1-D array at the model's sampling rate, or a list of them.

    Args:
        model: model directory, hub id, loaded `ASRPipeline`, or None for the bundled model.
        batch_size: chunks per forward pass (inputs of similar length are batched together).
        chunk_length_s: split longer inputs into chunks of this many seconds (None: never);
            "model": the model's own (`chunk_length_s` in its preprocessor_config.json, else
            30 s).
        stride_s: overlap dropped at each inner chunk edge; default chunk_length_s / 6.
        split_at_pauses: first cut long inputs in the middle of their pauses, each piece run on
            its own; "model": the model's own (`split_at_pauses` in its processor config, else
            False). min_pause_s: the shortest pause cut at (seconds); "model": the model's
            `min_pause_s`, else 0.25.
        beam_size: 1 for greedy decoding; more for CTC prefix beam search. None: 1, or the
            language model's beam size (32 unless its attrs.json says otherwise).
        lm: n-gram LM (ARPA, or KenLM binary with kenlm installed) for beam search; None: the
            model folder's `language_model/` if it has one; False: none. hotwords: words to
            favour.
        return_timestamps: None, "word" or "char" (words and characters, in seconds).
        alpha, beta: LM weight and per-word bonus; token_min_logp: how likely (natural log) a
            token must be at a frame to start new prefixes; blank_offset: added to the blank's
            log-prob in every frame before decoding (negative: fewer letters dropped);
            temperature: the log-probs are divided by it first (above 1: the LM settles more of
            the model's doubts); unk_offset: the score (natural log) of a word the LM does not
            know. None: the model's `language_model/attrs.json`, else the beam search's
            defaults (blank_offset 0, temperature 1, unk_offset -10).
    """
    if return_timestamps not in (None, "word", "char"):
        raise ValueError(
            f"return_timestamps must be None, 'word' or 'char', got {return_timestamps!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    pipe = load_pipeline(model)
    single = isinstance(audio_or_paths, str | os.PathLike | np.ndarray | torch.Tensor)
    items = [audio_or_paths] if single else list(audio_or_paths)
    waves, sources = [], []
    for a in items:
        if isinstance(a, str | os.PathLike):
            waves.append(load_audio(a, pipe.sampling_rate))
            sources.append(os.fspath(a))
        else:
            arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.floating):
                raise ValueError(f"audio arrays must be 1-D float, got {arr.dtype} {arr.shape}")
            if not np.isfinite(arr).all():
                raise AudioError("audio array contains NaN or infinite samples")
            waves.append(arr.astype(np.float32))
            sources.append(None)
    logps, cuts = transcribe_arrays(
        pipe,
        waves,
        batch_size=batch_size,
        chunk_length_s=chunk_length_s,
        stride_s=stride_s,
        split_at_pauses=split_at_pauses,
        return_cuts=True,
        min_pause_s=min_pause_s,
    )
    decoding = decoding_for(
        pipe,
        beam_size,
        lm,
        hotwords,
        alpha=alpha,
        beta=beta,
        token_min_logp=token_min_logp,
        blank_offset=blank_offset,
        temperature=temperature,
        unk_offset=unk_offset,
    )
    out = []
    for wav, src, lp, cut in zip(waves, sources, logps, cuts, strict=True):
        res = decode_logprobs(pipe, lp, decoding, return_timestamps is not None, cut)
        out.append(
            Transcription(
                text=res.text,
                duration_s=len(wav) / pipe.sampling_rate,
                words=res.words if return_timestamps else None,
                chars=res.chars if return_timestamps == "char" else None,
                source=src,
            )
        )
    return out[0] if single else out
