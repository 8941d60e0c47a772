"""Thresholds and switches of the quality filters (its own module so that every filter module can use it)."""
from __future__ import annotations

from dataclasses import dataclass

REFUSAL_POLICIES = ("refusal_only", "any_disclaimer")


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the quality filters.

    Length is counted in non-space characters for Chinese (a Han character carries about a word) and in
    whitespace-separated words for English and other languages.
    """

    min_chars_zh: int = 1
    max_chars_zh: int = 4000
    min_words: int = 1  # en and other
    max_words: int = 3000
    # Share of n-gram occurrences that repeat an earlier one; only judged with enough n-grams to be meaningful.
    # Only prose counts: code, markup and table rows repeat by nature.
    max_repetition: float = 0.5
    min_ngrams: int = 20
    word_ngram: int = 3  # en/other
    char_ngram: int = 5  # zh
    # Share of characters that are symbols/control/private-use outside ASCII (emoji, box drawing, mojibake).
    max_special_ratio: float = 0.3
    # Echo: responses shorter than this (after normalization) are never echoes, so "42" may repeat a prompt.
    echo_min_chars: int = 20
    echo_containment: float = 0.9
    # 'refusal_only' rejects a response that only refuses (a refusal or AI disclaimer, maybe an offer of other
    # help, and little else); 'any_disclaimer' also one that opens with a disclaimer and then answers.
    refusal_policy: str = "refusal_only"
    # What is left of a response besides its refusal, disclaimer and offer sentences: less than this is no
    # answer (words for en/other, characters for zh).
    refusal_min_answer_words: int = 15
    refusal_min_answer_chars_zh: int = 15
    # A trailing ellipsis only counts as a cut-off in responses longer than this (short ones are often
    # deliberate: "To be continued...").
    truncation_min_chars: int = 200
    # A last paragraph (or list item) of one sentence without a full stop counts as cut off when every earlier
    # paragraph (or item of its list), at least this many of them, ends on one; 0 never judges a line that
    # way (a sentence that lacks only its stop is then always kept).
    truncation_consistent_lines: int = 2
    # A response that is one text written twice ("A. A.", two equal paragraphs) with at least this many
    # letters or digits in each copy.
    doubled_min_chars: int = 5
    # Filters to skip, by name (see FILTERS), e.g. {"refusal", "truncated"}.
    disabled: frozenset[str] = frozenset()


DEFAULT_RULES = QualityRules()
