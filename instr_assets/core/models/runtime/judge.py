"""An LLM judge: the expected 1-5 grade under the judge's distribution over its first reply token.

Reading the probabilities of "1".."5" instead of sampling one digit gives a graded, deterministic score (4.6 and
3.9 differ where a sampled answer would say "4" for both) and costs a single forward step per pair.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from instr_assets.core.models.runtime.generation import Generator

GRADES = ("1", "2", "3", "4", "5")
JUDGE_SYSTEM = "You are a strict grader of instruction-following data. You answer with a single digit."
JUDGE_TEMPLATE = (
    "Grade how well the response follows the instruction: correct, complete, helpful and in the language the "
    "instruction asks for.\n1 = wrong or unrelated, 2 = poor, 3 = acceptable, 4 = good, 5 = excellent.\n\n"
    "<instruction>\n{instruction}\n</instruction>\n\n<response>\n{response}\n</response>\n\n"
    "Answer with one digit from 1 to 5."
)


@dataclass(frozen=True)
class JudgeScore:
    score: float | None  # expected grade in [1, 5]; None when the judge put no probability on any grade
    coverage: float  # probability mass the judge put on "1".."5" together: low means it wanted to say something else
    probs: dict[str, float]  # renormalised over the grades


def expected_grade(logprobs: dict[str, float]) -> JudgeScore:
    mass = {g: math.exp(logprobs[g]) for g in GRADES if g in logprobs}
    coverage = sum(mass.values())
    if coverage <= 0:
        return JudgeScore(None, 0.0, {})
    probs = {g: p / coverage for g, p in mass.items()}
    return JudgeScore(sum(int(g) * p for g, p in probs.items()), min(coverage, 1.0), probs)


def judge_prompt(instruction: str, response: str) -> str:
    return JUDGE_TEMPLATE.format(instruction=instruction.strip(), response=response.strip())


def judge_scores(judge: Generator, pairs: Sequence[tuple[str, str]]) -> list[JudgeScore]:
    prompts = [judge_prompt(instruction, response) for instruction, response in pairs]
    return [expected_grade(lp) for lp in judge.next_token_logprobs(prompts, GRADES, system=JUDGE_SYSTEM)]


def judge_score(judge: Generator, instruction: str, response: str) -> JudgeScore:
    return judge_scores(judge, [(instruction, response)])[0]
