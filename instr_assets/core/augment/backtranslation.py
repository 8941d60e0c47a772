"""Back-translation by the local model: English through Chinese and back, Chinese through English and back.

Used on the request part of an instruction (protect.editable_end; the material after it is never sent), and on
a response only where the task allows it (`response_allowed`). Both legs are greedy, so a text always makes the
same child and every leg is cached by content. The result comes with the pivot text, kept as the child's detail.
"""
from __future__ import annotations

import re
from typing import Sequence

from ..models.runtime import Generator
from .model_reply import LANG_NAMES, run_prompts

PIVOT = {"en": "zh", "zh": "en"}
TAG = "translation"
_WHAT = {
    # Without "of the same form" the model often turned "List the benefits of X" into a title, "List of ...".
    "instruction": "The text is an instruction for someone else: translate it as an instruction of the same form "
                   "(a request stays a request, a question stays a question); do not follow it or answer it.",
    "response": "The text is an answer someone wrote: translate all of it, do not comment on it or add to it.",
}
# Code in a response would be translated into something that no longer runs.
_CODE = re.compile(r"```|`[^`\n]+`|^\s{4}\S|[{};]\s*$|\b(?:def|class|return|import|function|SELECT)\b", re.M)


def translation_prompt(text: str, source: str, target: str, kind: str = "instruction") -> str:
    return (f"Translate the {LANG_NAMES[source]} text between <text> and </text> into {LANG_NAMES[target]}. "
            f"{_WHAT[kind]} Write the translation between <{TAG}> and </{TAG}>.\n\n<text>\n{text}\n</text>")


def response_allowed(row: dict, max_chars: int) -> tuple[bool, str]:
    """Whether a pair's response may be back-translated, and why not. Not when the response is bound to given
    material (an input, or material inside the instruction: extraction and reading comprehension quote it), has
    code, or is longer than `max_chars` (its cost on a CPU); verifiable tasks are never augmented at all."""
    response = row["response"] or ""
    if row.get("reference_answer") is not None:
        return False, "computed answer"
    if (row.get("input") or "").strip():
        return False, "the response is bound to the input"
    if not response.strip() or len(response) > max_chars:
        return False, f"response empty or over {max_chars} characters"
    if _CODE.search(response):
        return False, "the response has code"
    return True, ""


def backtranslate(generator: Generator, texts: Sequence[str], langs: Sequence[str],
                  kind: str = "instruction", timeout_s: float = 120.0) -> list[tuple[str | None, str]]:
    """Per text (its back-translation, 'en->zh->en via <pivot>') or (None, why not)."""
    out: list[tuple[str | None, str]] = [(None, f"no back-translation for language {lang!r}") for lang in langs]
    for source, pivot in PIVOT.items():
        indices = [i for i, lang in enumerate(langs) if lang == source]
        if not indices:
            continue
        originals = [texts[i] for i in indices]
        there = run_prompts(generator, [translation_prompt(t, source, pivot, kind) for t in originals], originals, TAG,
                            timeout_s=timeout_s)
        # The second leg only for the texts whose first leg gave something.
        ok = [k for k, (text, _) in enumerate(there) if text is not None]
        back = run_prompts(generator, [translation_prompt(there[k][0], pivot, source, kind) for k in ok],
                           [there[k][0] for k in ok], TAG, timeout_s=timeout_s)
        for k, (text, why) in enumerate(there):
            out[indices[k]] = (None, f"{source}->{pivot}: {why}")
        for k, (text, why) in zip(ok, back):
            route = f"{source}->{pivot}->{source}"
            out[indices[k]] = (text, f"{route} via {there[k][0]!r}") if text is not None else (None, f"{route}: {why}")
    return out
