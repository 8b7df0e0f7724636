"""Sentences for the synthetic corpus: WordNet's example sentences and the `fortunes` texts,
normalised to the vocabulary (lower-case a-z, apostrophe, space), deduplicated and split.

Sentences an engine would read differently from their transcript (digits, symbols,
abbreviations, acronyms, lone letters) are dropped. WordNet sentences are split between train
and dev by a stable hash of their text (`is_dev_sentence`); the `fortunes` texts belong to the
reserved evaluation only and never reach train or dev. `lm_sentences` gives every sentence
train may use (the spoken ones and the rest), the text of the bundled model's language model.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

WORDNET_DIR = "/usr/share/wordnet"
FORTUNES_DIR = "/usr/share/games/fortunes"

_ALLOWED = re.compile(r"^[A-Za-z' ,;:!?.\-]+$")
_WORD = re.compile(r"^[A-Za-z]+('[A-Za-z]+)?$")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr vs etc messrs prof gen col lt sgt capt rev hon mt ft esq".split()
)


@dataclass(frozen=True)
class Sentence:
    text: str  # transcript: lower-case words of a-z and apostrophes, single spaces
    spoken: str  # what the engine reads: the cleaned original, punctuation kept

    @property
    def id(self) -> str:
        return hashlib.sha1(self.text.encode()).hexdigest()[:12]


def clean_sentence(raw: str, min_words: int = 3, max_words: int = 30) -> Sentence | None:
    """Normalise one sentence, or None when an engine might read it differently.

    Dropped: characters other than letters, apostrophes, spaces, hyphens and ``,;:!?.``
    (so digits, symbols, quotes, brackets, accents); a period anywhere but at the end
    (abbreviations, ellipses, two sentences); acronyms (all-caps words); lone letters other
    than "a" and "I"; words without a vowel ("hmm", "nth"); known abbreviations; apostrophes
    that do not sit inside a word; fewer than ``min_words`` or more than ``max_words`` words.
    """
    s = " ".join(re.sub(r"\s*--\s*|\s+-\s+", ", ", raw).split()).strip(" ,;:")
    if (
        not s
        or not _ALLOWED.match(s)
        or "." in s[:-1]
        or re.search(r"(^|[^A-Za-z])-|-($|[^A-Za-z])", s)
    ):
        return None
    words = []
    for token in s.replace("-", " ").split():
        word = token.strip(",;:!?.")
        if not _WORD.match(word):
            return None
        lower = word.lower()
        if (len(word) > 1 and word.isupper()) or (len(word) == 1 and lower not in "ai"):
            return None
        if not re.search(r"[aeiouy]", lower) or lower in _ABBREVIATIONS:
            return None
        words.append(lower)
    if not min_words <= len(words) <= max_words:
        return None
    return Sentence(" ".join(words), s)


def missing_texts(wordnet_dir: str = WORDNET_DIR, fortunes_dir: str = FORTUNES_DIR) -> list[str]:
    """The Debian packages whose texts are not installed (empty when both are)."""
    missing = [] if os.path.exists(os.path.join(wordnet_dir, "data.noun")) else ["wordnet-base"]
    return missing + ([] if os.path.isdir(fortunes_dir) else ["fortunes"])


def require_texts() -> None:
    """A one-line FileNotFoundError naming the packages to install, when any is missing."""
    if missing := missing_texts():
        raise FileNotFoundError(
            f"texts not installed: {', '.join(missing)} (apt-get install {' '.join(missing)}, "
            "or bash scripts/install_tts.sh)"
        )


def wordnet_glosses(wordnet_dir: str = WORDNET_DIR) -> Iterator[str]:
    """The gloss of each synset in WordNet's data.* files: its definitions and its quoted
    example sentences."""
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(wordnet_dir, f"data.{pos}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # licence header
                yield line.split("|", 1)[1]


def wordnet_examples(wordnet_dir: str = WORDNET_DIR) -> list[str]:
    """The quoted example sentences in the glosses of WordNet's data.* files."""
    return [
        raw for gloss in wordnet_glosses(wordnet_dir) for raw in re.findall(r'"([^"]+)"', gloss)
    ]


def fortune_texts(fortunes_dir: str = FORTUNES_DIR) -> list[str]:
    """The sentences of the (inoffensive) fortune cookie files, attributions removed."""
    raws = []
    for path in sorted(glob.glob(os.path.join(fortunes_dir, "*"))):
        name = os.path.basename(path)
        if os.path.isdir(path) or "." in name or name in ("art", "ascii-art"):
            continue
        with open(path, encoding="latin-1") as f:
            for entry in f.read().split("\n%\n"):
                lines = [ln for ln in entry.splitlines() if not ln.strip().startswith("--")]
                raws += re.split(r"(?<=[.!?])\s+(?=[A-Z])", " ".join(lines))
    return raws


def unique_sentences(raws: list[str], min_words: int = 3, max_words: int = 30) -> list[Sentence]:
    """Cleaned, deduplicated (by transcript) and sorted sentences."""
    by_text: dict[str, Sentence] = {}
    for raw in raws:
        s = clean_sentence(raw, min_words, max_words)
        if s is not None and s.text not in by_text:
            by_text[s.text] = s
    return [by_text[t] for t in sorted(by_text)]


def is_dev_sentence(s: Sentence, dev_share: float) -> bool:
    """Stable hash split: the same sentence is held out whatever the seed or sentence list."""
    return int(s.id[:8], 16) / 16**8 < dev_share


@functools.lru_cache(maxsize=4)
def sentence_pools(min_words: int, max_words: int) -> tuple[list[Sentence], list[Sentence]]:
    """(WordNet sentences, fortunes sentences), read once per process."""
    require_texts()
    fortunes = unique_sentences(fortune_texts(), min_words, max_words)
    reserved = {s.text for s in fortunes}  # eval's texts never reach train or dev
    wordnet = [s for s in unique_sentences(wordnet_examples(), min_words, max_words)
               if s.text not in reserved]  # fmt: skip
    return wordnet, fortunes


def split_sentences(
    split: str, min_words: int = 3, max_words: int = 30, dev_share: float = 0.05
) -> list[Sentence]:
    """eval: the fortunes texts; dev: the held-out WordNet sentences; train: the others."""
    wordnet, fortunes = sentence_pools(min_words, max_words)
    if split == "eval":
        return fortunes
    dev = split == "dev"
    return [s for s in wordnet if is_dev_sentence(s, dev_share) == dev]


def lm_sentences(min_words: int = 3, max_words: int = 30, dev_share: float = 0.05) -> list[str]:
    """Transcripts of every sentence train may use: text for a language model that holds no
    dev or eval sentence."""
    return [s.text for s in split_sentences("train", min_words, max_words, dev_share)]
