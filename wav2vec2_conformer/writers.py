"""Transcript output formats: txt, json, srt, vtt, tsv. Pure functions from results to text."""

from __future__ import annotations

import json

from .decoding import WordTiming

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
NEEDS_TIMESTAMPS = {"srt", "vtt", "tsv"}


def segments(
    words: list[WordTiming], max_chars: int = 42, max_gap_s: float = 1.0, max_len_s: float = 7.0
) -> list[tuple[float, float, str]]:
    """Group words into subtitle lines: a new line after `max_chars` characters, a pause of
    `max_gap_s`, or `max_len_s` seconds."""
    out: list[tuple[float, float, str]] = []
    cur: list[WordTiming] = []
    for w in words:
        if cur:
            text = " ".join(x.word for x in cur)
            if (
                len(text) + 1 + len(w.word) > max_chars
                or w.start_s - cur[-1].end_s > max_gap_s
                or w.end_s - cur[0].start_s > max_len_s
            ):
                out.append((cur[0].start_s, cur[-1].end_s, text))
                cur = []
        cur.append(w)
    if cur:
        out.append((cur[0].start_s, cur[-1].end_s, " ".join(x.word for x in cur)))
    return out


def _clock(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def format_result(result, fmt: str) -> str:
    """Render one `Transcription` in `fmt` (one of FORMATS)."""
    if fmt == "txt":
        return result.text + "\n"
    if fmt == "json":
        return json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    segs = segments(result.words or [])
    if fmt == "tsv":
        rows = ["start\tend\ttext"]
        rows += [f"{round(a * 1000)}\t{round(b * 1000)}\t{t}" for a, b, t in segs]
        return "\n".join(rows) + "\n"
    if fmt == "srt":
        blocks = [
            f"{i}\n{_clock(a, ',')} --> {_clock(b, ',')}\n{t}\n"
            for i, (a, b, t) in enumerate(segs, 1)
        ]
        return "\n".join(blocks)
    blocks = [f"{_clock(a, '.')} --> {_clock(b, '.')}\n{t}\n" for a, b, t in segs]
    return "WEBVTT\n\n" + "\n".join(blocks)
