"""Prompting the local model to transform a text, and reading its reply.

Every prompt puts the text between explicit tags and asks for the result between other tags, so the model
treats the text as material to transform rather than a request to carry out, and any preamble ("Sure, here is
the translation:") falls outside the result. A reply without the result tag counts only when it is one line
(the model sometimes answers a short translation bare); a longer untagged reply was, in trials, an answer or a
comment, so it is no output, with the reason.
"""
from __future__ import annotations

import re
from typing import Sequence

from ..models.runtime import Generator, ModelTimeout, generate

LANG_NAMES = {"en": "English", "zh": "Chinese"}
# Budget of new tokens per text: generous for a faithful result, far too small for an answer to run on.
_TOKEN_BUCKETS = (64, 128, 256, 512)
_QUOTES = "\"'“”‘’「」"
_DELIMITER = re.compile(r"</?(?:text|instruction|translation|rewrite)>")


def token_budget(text: str) -> int:
    """The smallest bucket above twice the text's length in characters plus slack (a character is at most about
    one token in either language); buckets keep the number of distinct parameter sets, and so batches, small."""
    need = 32 + 2 * len(text)
    return next((b for b in _TOKEN_BUCKETS if b >= need), _TOKEN_BUCKETS[-1])


def read_tagged(reply: str, tag: str) -> tuple[str | None, str]:
    """(the result, '') or (None, why not). The closing tag is usually cut off by the stop string."""
    opening = f"<{tag}>"
    if opening in reply:
        text = reply.split(opening, 1)[1].split(f"</{tag}>", 1)[0].strip()
    elif "\n" in reply.strip():
        return None, f"no <{tag}> in a reply of several lines: {reply[:80]!r}"
    else:
        text = reply.strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES and text.count(text[0]) == 1:
        text = text[1:-1].strip()  # the model wrapped the result in quotes the source did not have
    if not text:
        return None, f"empty <{tag}> in reply: {reply[:80]!r}"
    if _DELIMITER.search(text):
        return None, f"the prompt's delimiters are left in the reply: {reply[:80]!r}"
    return text, ""


def run_prompts(generator: Generator, prompts: Sequence[str], texts: Sequence[str], tag: str, *,
                temperature: float = 0.0, seed: int = 0, timeout_s: float = 120.0) -> list[tuple[str | None, str]]:
    """One model call per prompt, grouped by token budget (the budget of its source text), each reply read by
    `read_tagged`. Greedy decoding unless `temperature`; the seed makes a sampled reply reproducible. A prompt
    that runs past `timeout_s` is no output ('model_timeout'), not the end of the run."""
    out: list[tuple[str | None, str]] = [(None, "not run")] * len(prompts)
    by_budget: dict[int, list[int]] = {}
    for index, text in enumerate(texts):
        by_budget.setdefault(token_budget(text), []).append(index)
    def call(batch: list[str], budget: int) -> list[str]:
        return generate(generator, batch, max_new_tokens=budget, temperature=temperature, seed=seed,
                        stop=[f"</{tag}>"], timeout_s=timeout_s)

    for budget, indices in sorted(by_budget.items()):
        try:
            replies = call([prompts[i] for i in indices], budget)
        except ModelTimeout:
            # One prompt ran out of time: redo the batch one by one (what finished is cached) and reject only it.
            replies = []
            for i in indices:
                try:
                    replies.append(call([prompts[i]], budget)[0])
                except ModelTimeout as e:
                    replies.append(None)
                    out[i] = (None, f"model_timeout: {e}")
        for index, reply in zip(indices, replies):
            if reply is not None:
                out[index] = read_tagged(reply, tag)
    return out
