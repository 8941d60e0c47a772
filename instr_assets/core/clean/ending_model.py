"""A language model's word on whether an answer can end where it does: the evidence `junk.truncated` lacks.

A generation stopped by a length limit right after a whole word ("… converts light energy into chemical",
"目前我") leaves no mark in the text that rules can read: no dangling article, no open bracket, no word stub.
A language model reading the answer can tell: after a finished clause it expects a full stop, a line break or
the end of its turn; after "into chemical" it expects a noun. So each candidate goes to the runtime's default
model (Qwen2.5-Coder-1.5B-Instruct, through llama.cpp) as a chat turn: the question (its first and last
`prompt_chars` / 2 characters) and the answer so far (its last `context_chars` characters) as the assistant's
unfinished reply. The probability that the next token ends the answer (the end of the turn, ., !, ?, a line
break; in Chinese also the clause marks ，、：；) is summed over its most likely next tokens. Below the language's
threshold the answer is `truncated`. The question matters most for short answers: "苹果、香蕉和橙子" is finished
after "列出三种水果", and a model reading the answer alone expects more.

Only answers the rules left open are candidates: the final response of a kept English or Chinese pair that ends
on a letter or a Han character, in prose (not code, a table row, a URL, a span copied from the prompt, a list of
short items, closing hashtags or the last item of a list whose items mostly end without a stop), with a last line
of at least a few words, or of any length after a finished sentence. Outputs are cached by content (model
hash, the model's input, settings) like every model output, so a rebuild scores nothing it has seen. One
candidate costs about 2.3 s on the two CPU cores (question and answer make a few hundred tokens to read), so
`mode='auto'` runs the check only when the candidates fit `max_candidates` and the run reports what it did. The
thresholds were chosen on bench/truncation_dev.py's development answers (figures in BENCHMARKS.md, "Cleaning
quality on real data").
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Literal

import polars as pl

from .junk import quoted_whole
from .list_ends import unstopped_list_end
from .textshape import is_code_line, is_table_row

_log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
# Bump when the way a probability is computed changes: cached values of the old way are then never reused.
SCORING_VERSION = 2
# The chat format of the default model (ChatML, which SmolLM2 and many other GGUF models share): the answer is
# left open as the assistant's reply, so "end of turn" is one of the tokens the model can predict next. llama.cpp
# renders that token as an empty string.
_CHAT = "<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}"
_END_OF_TURN = ""
# What may follow a finished text: a sentence end or a line break, and in Chinese a clause mark too (a cut at a
# clause's end reads finished and is left to the rules).
_END_EN = re.compile(r"\s*[.!?\n]")
_END_ZH = re.compile(r"\s*[.!?\n。！？，、：；]")
# The answer ends on a letter or a Han character (digits and symbols end lists of figures, formulas, codes).
_OPEN_END = r"[A-Za-z\u4e00-\u9fff]\s*$"
_HAN = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z]+")
_URL_END = re.compile(r"(?:https?://|www\.)\S+$")
_ITEM_SEP = re.compile(r"[,，、;；]")
_SENTENCE_END = re.compile(r"[。！？!?]|\.\s")
_ITEM_MAX_CHARS_ZH = 10
# The line before the last ends a sentence (or opens what follows, with a colon).
_AFTER_STOP = re.compile(r"[.!?。！？:：][\"'”’)）」』]*[ \t]*\n\s*$")
# A post that ends on its hashtags: like a list, a model always expects one more tag.
_HASHTAG_END = re.compile(r"#\w+$")


@dataclass(frozen=True)
class EndingRules:
    # 'auto' unless INSTR_ASSETS_TRUNCATION_MODEL says otherwise (the tests switch it off: the model takes a
    # second a candidate).
    mode: Literal["auto", "on", "off"] = field(default_factory=lambda: os.environ.get("INSTR_ASSETS_TRUNCATION_MODEL", "auto"))
    # 'default' (the runtime's bundled Qwen2.5-Coder-1.5B-Instruct GGUF) or a .gguf file, run by llama.cpp.
    model: str = "default"
    # Probability of an ending below which the answer is cut off, per language.
    threshold_en: float = 0.01
    threshold_zh: float = 0.05
    # The answer's last characters the model reads, and how much of the question (its start and its end).
    context_chars: int = 300
    prompt_chars: int = 300
    # In 'auto' mode, more candidates than this skip the check (the run says so): about 20 minutes of CPU.
    max_candidates: int = 500
    # The last line must have this many words (English) or Han characters (Chinese) to be judged, unless a
    # finished sentence comes before it: short answers, labels and titles end as they like.
    min_words: int = 3
    min_chars_zh: int = 6
    threads: int = 2

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"truncation_model: {self.mode!r} is not one of {MODES}")
        for name in ("threshold_en", "threshold_zh"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"truncation_model_{name}: must be in [0, 1), got {getattr(self, name)}")
        for name in ("context_chars", "prompt_chars", "threads", "max_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"truncation_model_{name}: must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class EndingRun:
    rejected: pl.DataFrame  # raw_id, pair_id, source, reason 'truncated', detail
    summary: dict  # what the check did: candidates, scored, computed (not from the cache), skipped and why


def candidate_mask(frame: pl.DataFrame, rules: EndingRules) -> pl.Series:
    """Which rows of `frame` (lang, instruction, input, response) the model is asked about (all False when the
    check is off)."""
    if rules.mode == "off" or not frame.height:
        return pl.Series("ending_candidate", [False] * frame.height, pl.Boolean)
    open_end = (pl.col("lang").is_in(["en", "zh"]) & pl.col("response").str.contains(_OPEN_END)
                & (pl.col("response").str.count_matches("```") % 2 == 0))
    flags = frame.select(open_end.fill_null(False).alias("open"))["open"].to_numpy().copy()
    # Python reads only the open-ended rows (about one in ten of real answers).
    rows = frame.filter(pl.Series(flags)).select("lang", "instruction", "input", "response").iter_rows()
    for i, row in zip(flags.nonzero()[0], rows):
        flags[i] = _judged(row[3].rstrip(), _question(row[1], row[2]), rules)
    return pl.Series("ending_candidate", flags, pl.Boolean)


def _question(instruction: str | None, input_text: str | None) -> str:
    """The pair's prompt as one text: what the candidate filter searches for copied spans and the model reads."""
    return "\n".join(filter(None, (instruction, input_text)))


def ending_lang(text: str) -> str:
    """The language the answer ends in, which its ending is judged by: a Chinese pair's answer may end in English
    (a translation, a quoted reply) and the other way round."""
    return "zh" if _HAN.search(text.rstrip()[-20:].rpartition("\n")[2]) else "en"


def _judged(text: str, prompt: str, rules: EndingRules) -> bool:
    last_line = text[text.rfind("\n") + 1:]
    lang = ending_lang(text)
    if is_code_line(last_line) or is_table_row(last_line) or _URL_END.search(last_line) or quoted_whole(text, prompt):
        return False
    if _enumeration(last_line) or _HASHTAG_END.search(last_line) or unstopped_list_end(text):
        return False
    if lang == "zh" and not _HAN.match(text[-1]):
        return False
    # A line begun after a finished sentence is judged however short: "…quality.\n\nAddi", "…数据。\n\n尽".
    if _AFTER_STOP.search(text[:len(text) - len(last_line)]):
        return True
    if lang == "zh":
        return len(_HAN.findall(last_line)) >= rules.min_chars_zh
    return len(_WORD.findall(last_line)) >= rules.min_words


def _enumeration(line: str) -> bool:
    """A line that only lists short items ("Amanda, James, John, Maria", "苹果、香蕉、橙子", "- Sentence 2: desire,
    eat"): how many there are, a model reading it cannot know, so it always expects one more. Two items are a
    list after a label, three without one."""
    label, colon, rest = line.rpartition(":") if ":" in line else line.rpartition("：")
    items = [item.strip() for item in _ITEM_SEP.split(rest if colon else line)]
    return len(items) >= (2 if colon else 3) and all(map(_short_item, items))


def _short_item(item: str) -> bool:
    """An item of an enumeration: a few words (English) or characters (Chinese, written without spaces), and no
    sentence end inside ("每天写一些东西，即使只是几句话。这将" is prose split at its commas)."""
    if not item or _SENTENCE_END.search(item):
        return False
    if _HAN.search(item):
        return len(item) <= _ITEM_MAX_CHARS_ZH
    return len(item.split()) <= 3 and len(item) <= 30


def _model_hash(name: str) -> str:
    """What identifies the GGUF file for the cache, without loading it."""
    from ..models.runtime import gguf_model_hash

    if name != "default" and not name.endswith(".gguf"):
        raise ValueError(f"truncation_model_name: {name!r} must be 'default' or a .gguf file")
    return gguf_model_hash(name)


class _Scorer:
    """Loads the model on first use, so a run served wholly from the cache loads nothing."""

    def __init__(self, rules: EndingRules):
        self.rules, self.model, self.computed = rules, None, 0

    def __call__(self, items: list[str]) -> list[float]:
        if self.model is None:
            from ..models.runtime import load_generator

            self.model = load_generator(self.rules.model, threads=self.rules.threads)
        langs, texts = zip(*(item.split("\t", 1) for item in items))
        tops = self.model.next_token_top(texts)
        self.computed += len(items)
        # Only the top tokens come back: an ending outside them is too unlikely to matter.
        return [round(sum(p for token, p in top.items()
                          if token == _END_OF_TURN or (_END_ZH if lang == "zh" else _END_EN).match(token)), 6)
                for lang, top in zip(langs, tops)]


def model_input(question: str, answer: str, rules: EndingRules) -> str:
    """The chat the model continues: the question (its start and end when long) and the answer's last
    characters as the unfinished reply. Control-token look-alikes in the data are broken up, so that llama.cpp
    reads them as text and not as the turn's end."""
    question = question.strip()
    if len(question) > rules.prompt_chars:
        half = rules.prompt_chars // 2
        question = f"{question[:half]}…{question[-half:]}"
    answer = answer.rstrip()
    if len(answer) > rules.context_chars:
        answer = "…" + answer[-rules.context_chars:]
    return _CHAT.format(question=question.replace("<|", "< |"), answer=answer.replace("<|", "< |"))


def skip_reason(candidates: int, rules: EndingRules) -> str | None:
    """Why the check does not run on `candidates` candidates, or None when it does."""
    if rules.mode == "off":
        return "truncation_model is off"
    if rules.mode == "auto" and candidates > rules.max_candidates:
        # Judging only a part of the corpus would make a row's fate depend on the others: all or nothing.
        return (f"{candidates} candidates over truncation_model_max_candidates={rules.max_candidates} "
                "(truncation_model='on' scores them all)")
    return None


def check(total: int, load_candidates: Callable[[], pl.DataFrame], rules: EndingRules, cache) -> EndingRun:
    """The check over `total` candidates, which `load_candidates` returns (raw_id, pair_id, source, lang,
    instruction, input, response) when the check runs: their rejects and the check's summary. `cache` is the
    runtime's OutputCache."""
    schema = {"raw_id": pl.Utf8, "pair_id": pl.Utf8, "source": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8}
    summary = {"mode": rules.mode, "model": rules.model, "candidates": total}
    why = skip_reason(total, rules)
    if why or not total:
        return EndingRun(pl.DataFrame(schema=schema), summary | {"scored": 0, "computed": 0, "rejected": 0}
                         | ({"skipped": why} if why else {}))
    candidates = load_candidates()
    langs = [ending_lang(response) for response in candidates["response"].to_list()]
    items = [lang + "\t" + model_input(_question(instruction, input_text), response, rules)
             for lang, (instruction, input_text, response)
             in zip(langs, candidates.select("instruction", "input", "response").iter_rows())]
    scorer = _Scorer(rules)
    fields = {"version": SCORING_VERSION}
    probs, _ = cache.through(_model_hash(rules.model), "ending", items, fields, scorer, chunk_size=16)
    thresholds = [rules.threshold_zh if lang == "zh" else rules.threshold_en for lang in langs]
    cut = [p < t for p, t in zip(probs, thresholds)]
    details = [f"the model gives {p:.4f} (< {t}) that the text ends here: …{r.rstrip()[-40:]!r}"
               for p, t, r, c in zip(probs, thresholds, candidates["response"].to_list(), cut) if c]
    rejected = candidates.filter(pl.Series(cut, dtype=pl.Boolean)).select(
        "raw_id", "pair_id", "source", pl.lit("truncated").alias("reason"), pl.Series("detail", details, pl.Utf8))
    _log.info("truncation model: %d candidates, %d scored by the model (the rest from the cache), %d cut off",
              candidates.height, scorer.computed, rejected.height)
    return EndingRun(rejected.cast(schema), summary | {"scored": len(probs), "computed": scorer.computed,
                                                       "rejected": rejected.height})
