"""Decontamination: keep evaluation prompts out of training data.

Evaluation items come from sources marked `evaluation: true` in the sources file (their pairs are not
training data at all) and from JSONL files named in the config. A training pair whose user text shares a
long n-gram with an evaluation prompt is contaminated: 13 words (the usual choice in LLM decontamination
reports), or 20 Han characters in Chinese text; an evaluation prompt shorter than that (but at least half as
long) matches a training prompt that holds all of its tokens in a row ("Question from my boss: <the item>"). A Chinese word is about 1.5 characters on average, so 20
characters carry about as much as 13 English words; 13 characters would already match boilerplate such as
"请阅读下面的文章并回答问题：" shared by unrelated reading tasks.

Words are lower-cased runs of letters or digits outside Han; Han characters are counted one by one, in their
own sequence (punctuation and Latin words between them do not break a Han n-gram, nor Han a word n-gram).
The index maps every token of the evaluation prompts to an id and every n-gram of ids to its item; a
training n-gram with a token outside that vocabulary cannot match, so scanning stops early on most text.
A cheap vectorized prefilter comes first: for every evaluation n-gram, one *anchor* (its least common pair of
adjacent tokens, written as in the evaluation text); a prompt containing no anchor is not scanned. A copy
that rewrites the space between exactly that pair is missed; any other shared n-gram still catches it.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..text import normalize_series

_WORD = re.compile(r"[^\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Fields of an evaluation JSONL record that hold its prompt, in order of preference; 'turns' is a list.
PROMPT_FIELDS = ("turns", "question", "instruction", "prompt", "input")


@dataclass(frozen=True)
class DecontaminationRules:
    # Sources (by name) whose pairs are evaluation items: they leave the output as 'evaluation_set'.
    evaluation_sources: tuple[str, ...] = ()
    # JSONL files of evaluation items (a 'turns', 'question', 'instruction', 'prompt' or 'input' field each).
    eval_files: tuple[str, ...] = ()
    ngram_words: int = 13
    ngram_chars_zh: int = 20


def validate(rules: DecontaminationRules) -> None:
    if rules.ngram_words < 1 or rules.ngram_chars_zh < 1:
        raise ValueError("decontamination n-gram sizes must be >= 1")
    missing = [f for f in rules.eval_files if not Path(f).is_file()]
    if missing:
        raise ValueError(f"decontaminate_against: {missing} not found")


@dataclass(frozen=True)
class EvalItem:
    source: str
    item_id: str


@dataclass
class EvalIndex:
    """Token ids and n-gram ids of the evaluation prompts, with the item each n-gram came from."""
    ngram_words: int
    ngram_chars_zh: int
    vocab: dict[str, int] = field(default_factory=dict)
    ngrams: dict[tuple[int, ...], int] = field(default_factory=dict)
    items: list[EvalItem] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)
    # (is Han, length) of the prompts shorter than an n-gram, each indexed whole.
    short_lengths: set[tuple[bool, int]] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.items)


def _token_runs(text: str) -> tuple[list[str], list[str]]:
    low = text.lower()
    return _WORD.findall(low), _HAN.findall(low)


def _tokens_with_bigrams(text: str, pattern: re.Pattern, joiner: str) -> tuple[list[str], list[str | None]]:
    """Tokens, and per adjacent pair the literal text "a<joiner>b" where the pair is written exactly so."""
    low = text.lower()
    spans = list(pattern.finditer(low))
    bigrams = [f"{a.group()}{joiner}{b.group()}" if low[a.end():b.start()] == joiner else None
               for a, b in zip(spans, spans[1:])]
    return [m.group() for m in spans], bigrams


def build_index(items: Iterable[tuple[EvalItem, Sequence[str]]], ngram_words: int = 13,
                ngram_chars_zh: int = 20) -> EvalIndex:
    """Index the prompts (one or more turns) of evaluation items; an n-gram stays within one turn."""
    index = EvalIndex(ngram_words, ngram_chars_zh)
    sequences: list[tuple[int, list[str], list[str | None], bool]] = []  # (item, tokens, bigrams, is Han)
    for item, turns in items:
        k = len(index.items)
        index.items.append(item)
        for turn in turns:
            sequences.append((k, *_tokens_with_bigrams(turn, _WORD, " "), False))
            sequences.append((k, *_tokens_with_bigrams(turn, _HAN, ""), True))
    counts = Counter(t for _, seq, _, _ in sequences for t in seq)
    for k, seq, bigrams, is_han in sequences:
        n = ngram_chars_zh if is_han else ngram_words
        ids = [index.vocab.setdefault(t, len(index.vocab)) for t in seq]
        for i in range(len(ids) - n + 1):
            # The first item with an n-gram names it; an n-gram twice in one set is no news.
            index.ngrams.setdefault((is_han, *ids[i:i + n]), k)
            index.anchors.add(_anchor(seq[i:i + n], bigrams[i:i + n - 1], counts))
        if (n + 1) // 2 <= len(ids) < n:
            # A prompt shorter than an n-gram (but not a mere word or two) matches a prompt holding it whole.
            index.ngrams.setdefault((is_han, *ids), k)
            index.short_lengths.add((is_han, len(ids)))
            index.anchors.add(_anchor(seq, bigrams, counts))
    return index


def _anchor(window: list[str], bigrams: list[str | None], counts: Counter) -> str:
    """What a text sharing `window` must contain: the window's least common pair of tokens as written
    (a single word or character is too common to rule out much text), or its least common token when no
    pair is written plainly."""
    # Short tokens and tokens frequent in the evaluation set itself are likely frequent everywhere.
    def commonness(tokens: list[str], literal: str) -> float:
        return sum(counts[t] for t in tokens) / len(literal) ** 2

    pairs = [(commonness(window[j:j + 2], b), b) for j, b in enumerate(bigrams) if b]
    return min(pairs)[1] if pairs else min(window, key=lambda t: commonness([t], t))


def may_be_contaminated(texts: pl.Series, index: EvalIndex) -> pl.Series:
    """False where a text holds none of the index's anchors, so cannot share an n-gram with it."""
    if not index.anchors:
        return pl.Series([False] * texts.len())
    return texts.str.contains_any(sorted(index.anchors), ascii_case_insensitive=True)


def _match(seq: list[str], is_han: bool, index: EvalIndex) -> tuple[int, list[str]] | None:
    vocab = index.vocab
    ids = [vocab.get(t, -1) for t in seq]
    n = index.ngram_chars_zh if is_han else index.ngram_words
    # Windows of an n-gram's length, then of each short prompt's length (longest first).
    sizes = [n, *sorted((size for han, size in index.short_lengths if han == is_han), reverse=True)]
    run = 0  # known tokens ending at position i
    for i, token_id in enumerate(ids):
        run = run + 1 if token_id >= 0 else 0
        for size in sizes:
            if run >= size:
                k = index.ngrams.get((is_han, *ids[i - size + 1:i + 1]))
                if k is not None:
                    return k, seq[i - size + 1:i + 1]
    return None


def contamination(text: str, index: EvalIndex) -> tuple[EvalItem, str] | None:
    """(the evaluation item, the shared n-gram) for the first n-gram of `text` found in the index."""
    words, han = _token_runs(text)
    for seq, is_han in ((words, False), (han, True)):
        found = _match(seq, is_han, index)
        if found:
            return index.items[found[0]], ("" if is_han else " ").join(found[1])
    return None


def contaminated_rows(texts: pl.Series, index: EvalIndex) -> dict[int, tuple[str, str]]:
    """{position: ('contaminated', detail)} for the texts that share an n-gram with an evaluation item; only
    texts past the anchor prefilter are tokenized."""
    found = {}
    candidates = may_be_contaminated(texts, index).arg_true().to_list()
    for i, text in zip(candidates, texts.gather(candidates).to_list()):
        match = contamination(text, index)
        if match:
            item, ngram = match
            found[i] = ("contaminated", f"shares '{ngram}' with evaluation item {item.item_id} ({item.source})")
    return found


def read_eval_file(path: str | Path) -> list[tuple[EvalItem, list[str]]]:
    """Evaluation items of a JSONL file: the first of PROMPT_FIELDS present in each record is its prompt;
    'question_id', 'id' or the line number names the item."""
    path = Path(path)
    items = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        prompt = next((record[f] for f in PROMPT_FIELDS if record.get(f)), None)
        if prompt is None:
            raise ValueError(f"{path}:{line_no}: none of the prompt fields {PROMPT_FIELDS}")
        turns = [str(t) for t in prompt] if isinstance(prompt, list) else [str(prompt)]
        item_id = record.get("question_id", record.get("id", line_no))
        items.append((EvalItem(path.name, str(item_id)), turns))
    return items


def user_text(messages: pl.Series) -> pl.Series:
    """The user turns of each conversation, joined by line breaks."""
    return messages.list.eval(
        pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content")
    ).list.join("\n")


def index_for(unified: pl.LazyFrame, rules: DecontaminationRules) -> EvalIndex | None:
    """The index of the evaluation sources' pairs in `unified` (their user turns, normalized as the training
    pairs are) and of the evaluation files; None when there is nothing to index."""
    items: list[tuple[EvalItem, list[str]]] = []
    if rules.evaluation_sources:
        evals = (unified.filter(pl.col("source").is_in(list(rules.evaluation_sources)))
                 .select("pair_id", "source", "messages").collect())
        turns = evals["messages"].list.eval(
            pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content"))
        items += [(EvalItem(source, pair_id), user_turns)
                  for pair_id, source, user_turns in zip(evals["pair_id"], evals["source"], turns.to_list())]
    for path in rules.eval_files:
        items += read_eval_file(path)
    if not items:
        return None
    # One normalization pass over all turns (it is a chain of column operations), then back to their items.
    flat = normalize_series(pl.Series([t for _, turns in items for t in turns], dtype=pl.Utf8)).to_list()
    normalized, at = [], 0
    for item, turns in items:
        normalized.append((item, flat[at:at + len(turns)]))
        at += len(turns)
    return build_index(normalized, rules.ngram_words, rules.ngram_chars_zh)
