"""Model rewrites, the model arm of syntactic transformation: the local model restates an instruction's request
part in other words, keeping its meaning, without answering it.

Greedy decoding mostly hands the request back unchanged (which the duplicate gate then rejects), so the rewrite
is sampled, at a seeded temperature: the same request, seed and model always give the same child.
"""
from __future__ import annotations

from typing import Sequence

from ..models.runtime import Generator
from .model_reply import LANG_NAMES, run_prompts

TAG = "rewrite"


def rewrite_prompt(text: str, lang: str) -> str:
    return (f"Rewrite the instruction between <instruction> and </instruction> in different words, in "
            f"{LANG_NAMES[lang]}. Keep its meaning, its form (a request or a question) and everything it asks for. "
            "Do not answer it or carry it out. "
            f"Write the rewritten instruction between <{TAG}> and </{TAG}>.\n\n<instruction>\n{text}\n</instruction>")


def rewrite(generator: Generator, texts: Sequence[str], langs: Sequence[str], *, seed: int,
            temperature: float, timeout_s: float = 120.0) -> list[tuple[str | None, str]]:
    """Per text (its rewrite, 'sampled at T, seed S') or (None, why not)."""
    out: list[tuple[str | None, str]] = [(None, f"no rewrite prompt for language {lang!r}") for lang in langs]
    indices = [i for i, lang in enumerate(langs) if lang in LANG_NAMES]
    results = run_prompts(generator, [rewrite_prompt(texts[i], langs[i]) for i in indices], [texts[i] for i in indices],
                          TAG, temperature=temperature, seed=seed, timeout_s=timeout_s)
    for index, (text, why) in zip(indices, results):
        out[index] = (text, f"sampled at temperature {temperature}, seed {seed}") if text is not None else (None, why)
    return out
