"""Automatic generation: new instruction pairs grown from the seed pairs by a local model, the method's other
source of data besides the rewrites.

Two methods, in English and Chinese:
  self_instruct  few-shot: a seeded sample of seed instructions of one language -> one new instruction;
  evol_instruct  one seed instruction evolved in depth (add a constraint, deepen, concretize) or in breadth (a new
                 instruction in the same domain).
The model then answers each new instruction and a judge grades the pair. A child costs up to three model calls,
and each gate runs before the next call is spent:
  1. the instruction, read from between delimiters: `no_output` (nothing there), `not_an_instruction` (it opens
     or reads like an answer), `language_changed`, `near_duplicate` (embedding cosine to one of its seeds or to
     an earlier child at or above `max_similarity`, or `evol_max_similarity` for an instruction evolved in depth
     against its seed; Self-Instruct used ROUGE-L against the pool);
  2. the answer: `no_output` when empty, then the augmentation's cheap gates (the cleaning's quality and safety
     filters, no duplicate of an existing pair or an earlier child);
  3. the judge's expected grade: `low_judge_score` below `min_judge_score`, `no_judge_score` when the judge put
     no probability on any grade.
A model call past `timeout_s` rejects its attempt as `model_timeout` instead of failing the run.
Seeds are single-turn pairs with no separate input and no computed answer. Each attempt draws from its own
seeded generator (seed, method, language, attempt number), so an attempt does not depend on the others; every
model call goes through the generator given, which in the pipeline is behind the OutputCache.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import polars as pl

from ..clean import language
from ..ingest.unify import pair_id_of
from ..models.runtime import generate, judge_scores
from ..models.runtime.generation import Generator, ModelTimeout
from ..text import render_plain
from .gates import EmbedFn, cheap_issues, normalized_keys

GENERATION_METHODS = ("self_instruct", "evol_instruct")
EVOL_MODES = ("constraint", "deepen", "concretize", "breadth")  # the first three in depth, the last in breadth
GENERATION_LANGS = ("en", "zh")
# Attempts per method and language when the config leaves it open: on a CPU a child costs about a minute of
# model calls on two busy cores, so the default keeps the step to a few minutes; a GPU takes far more.
CPU_ATTEMPTS, GPU_ATTEMPTS = 1, 25
_SEED_MAX_CHARS = 300  # longer seed instructions make poor few-shot examples and slow prompts

_SELF_INSTRUCT = {
    "en": ("Here are some example instructions that a user might give an AI assistant:\n\n{examples}\n\n"
           "Write one new instruction in English that differs from all of them in topic and wording, is useful, "
           "and can be answered without extra input. Do not answer it. Reply with the new instruction only, "
           "between <instruction> and </instruction>."),
    "zh": ("以下是用户可能向 AI 助手提出的一些指令示例：\n\n{examples}\n\n"
           "请用中文写一条新的指令，主题和措辞都要与上面的不同，有用，而且不需要额外输入就能回答。不要回答它。"
           "只输出这条新指令，放在 <instruction> 和 </instruction> 之间。"),
}
_EVOL_TASK = {
    "en": {
        "constraint": "Rewrite the instruction below into a harder version by adding one more constraint or "
                      "requirement.",
        "deepen": "Rewrite the instruction below so that it asks for deeper reasoning or a more thorough treatment "
                  "of the same question.",
        "concretize": "Rewrite the instruction below by replacing its general concepts with more specific ones.",
        "breadth": "Write a brand-new instruction in the same domain as the instruction below, but about a "
                   "different and less common topic, of similar length and difficulty.",
    },
    "zh": {
        "constraint": "把下面的指令改写成更难的版本：再增加一个限制条件或要求。",
        "deepen": "改写下面的指令，使它要求对同一问题进行更深入的推理或更全面的论述。",
        "concretize": "改写下面的指令，把其中笼统的概念换成更具体的概念。",
        "breadth": "写一条全新的指令：与下面的指令属于同一领域，但话题不同、更少见，长度和难度相近。",
    },
}
_EVOL_RULES = {
    "en": ("The new instruction must be self-contained and written in English. Do not answer either instruction. "
           "Reply with the new instruction only, between <instruction> and </instruction>.\n\n"
           "<original>\n{seed}\n</original>"),
    "zh": ("新指令必须独立完整，并用中文书写。不要回答任何一条指令。只输出新指令，放在 <instruction> 和 "
           "</instruction> 之间。\n\n<original>\n{seed}\n</original>"),
}
GENERATOR_SYSTEM = "You write new tasks for a dataset of instructions. You never answer or solve them."
# Asked for a complete but short answer, the model finishes within answer_tokens far more often (an answer cut
# off at the limit fails the cleaning's truncation filter).
ANSWER_SYSTEM = {
    "en": "You are a helpful assistant. Answer completely but concisely, in at most about 120 words.",
    "zh": "你是一个乐于助人的助手。请完整而简洁地回答，不超过约200字。",
}

_TAGGED = re.compile(r"<instruction>\s*(.*?)\s*(?:</instruction>|$)", re.S | re.I)
_LABEL = re.compile(r"^(?:(?:new|rewritten|evolved)\s+)?instruction\s*[:：]\s*"
                    r"|^(?:新的?指令|改写后的指令|指令)\s*[:：]\s*", re.I)
_QUOTES = {'"': '"', "“": "”", "「": "」", "'": "'"}
_ANSWER_OPENERS = re.compile(
    r"^(?:sure\b|certainly\b|of course\b|here (?:is|are)\b|as an ai\b|i (?:can|will|would)\b|the answer\b|"
    r"好的|当然|以下是|这是|作为一个|答案)", re.I)
# A Chinese request asks (a question mark or word) or tells (a request verb). In review a generated statement with
# neither read as an answer; on the bundled Chinese seed instructions the pattern misses none.
_ZH_REQUEST = re.compile(
    r"[？?]|请|吗|什么|怎么|怎样|如何|为什么|为何|哪|是否|多少|几|谁|写|列|解|说明|介绍|给出|计算|翻译|总结|概括|描述|"
    r"比较|分析|推荐|设计|回答|判断|改写|改成|改为|生成|提供|帮|举例|分类|找出|指出|说出|讲|谈|评价|转换|补全|续写|造句|"
    r"求|填|化成|排序|添加|提取|统计|把|将|根据|按照|下面|以下")
_LEFTOVER_TAG = re.compile(r"</?(?:instruction|original)>", re.I)
# A request is one short paragraph; Self-Instruct kept instructions of 3 to 150 words.
_MAX_WORDS = {"en": 80, "zh": 200}  # words for English, Han characters and words for Chinese


@dataclass(frozen=True)
class GenerationRules:
    seed: int = 13
    methods: tuple[str, ...] = GENERATION_METHODS
    langs: tuple[str, ...] = GENERATION_LANGS
    # Children tried per method per language (each up to three model calls).
    per_method_per_lang: int = 1
    few_shot: int = 3  # seed instructions shown to Self-Instruct
    min_judge_score: float = 3.0
    # A new instruction this close (e5 cosine) to one of its seeds or to an earlier child is a near-duplicate:
    # in review a Self-Instruct paraphrase of a seed scored 0.969, new topics 0.78-0.93.
    max_similarity: float = 0.95
    # An instruction evolved in depth is meant to stay close to its seed: good ones scored 0.90-0.966 in review,
    # a copy with a trivial clause added 0.998.
    evol_max_similarity: float = 0.97
    temperature: float = 0.7  # the instruction is sampled (seeded), so attempts differ; the answer is greedy
    instruction_tokens: int = 96
    answer_tokens: int = 256
    timeout_s: float = 300.0  # per model call; a call past it rejects its attempt as `model_timeout`


@dataclass
class Generated:
    children: list[dict]  # rows of the augmented schema, judge_score set
    rejected: list[dict]  # augmentation.REJECT_SCHEMA rows
    seconds: dict[str, float] = field(default_factory=dict)  # per method (instruction + answer), and 'judge'
    attempts: int = 0


def runs_on_gpu(generator: Generator) -> bool:
    """Whether the model behind `generator` (behind its cache, if any) computes on a CUDA device."""
    inner = getattr(generator, "inner", generator)
    return str(getattr(inner, "device", "cpu")).startswith("cuda")


def validate(rules: GenerationRules) -> None:
    unknown = set(rules.methods) - set(GENERATION_METHODS)
    if unknown:
        raise ValueError(f"generation_methods: unknown {sorted(unknown)}; known are {list(GENERATION_METHODS)}")
    if not set(rules.langs) <= set(GENERATION_LANGS):
        raise ValueError(f"generation_langs: {sorted(set(rules.langs) - set(GENERATION_LANGS))} not among "
                         f"{list(GENERATION_LANGS)}")
    if rules.per_method_per_lang < 0 or rules.few_shot < 1:
        raise ValueError("generation quota must be >= 0 and few_shot >= 1")
    if not 1.0 <= rules.min_judge_score <= 5.0 or not 0.0 < min(rules.max_similarity, rules.evol_max_similarity) \
            or max(rules.max_similarity, rules.evol_max_similarity) > 1.0:
        raise ValueError("generation min_judge_score must be in [1, 5] and the similarity limits in (0, 1]")


def seed_pool(cleaned: pl.DataFrame, lang: str) -> list[dict]:
    """Seed pairs of one language, in pair_id order so a sample does not depend on the row order."""
    return cleaned.filter(
        (pl.col("lang") == lang) & (pl.col("n_turns") == 1) & pl.col("reference_answer").is_null()
        & (pl.col("input") == "") & (pl.col("instruction").str.len_chars() <= _SEED_MAX_CHARS)
    ).sort("pair_id").to_dicts()


def self_instruct_prompt(seed_instructions: Sequence[str], lang: str) -> str:
    examples = "\n".join(f"{i}. {s.strip()}" for i, s in enumerate(seed_instructions, 1))
    return _SELF_INSTRUCT[lang].format(examples=examples)


def evol_prompt(seed_instruction: str, mode: str, lang: str) -> str:
    return f"{_EVOL_TASK[lang][mode]} {_EVOL_RULES[lang].format(seed=seed_instruction.strip())}"


def parse_instruction(text: str) -> str:
    """The instruction the model wrote: between the delimiters when it used them, without a leading label
    ("New instruction:") or wrapping quotes; empty when there is none."""
    match = _TAGGED.search(text)
    body = _LABEL.sub("", (match.group(1) if match else text).strip()).strip()
    if len(body) > 1 and _QUOTES.get(body[0]) == body[-1]:
        body = body[1:-1].strip()
    return body


def instruction_shape_issue(text: str, lang: str) -> str | None:
    """Why a model's text is not a request for something, or None: it opens like an answer, runs over
    several paragraphs or past the length of an instruction, or carries the prompt's delimiters."""
    if _ANSWER_OPENERS.match(text):
        return f"opens like an answer: {text[:40]!r}"
    if _LEFTOVER_TAG.search(text):
        return "the prompt's delimiters are left in the text"
    if "\n\n" in text.strip():
        return "several paragraphs: reads like an answer, not a request"
    size = len(re.findall(r"[\u4e00-\u9fff]|[A-Za-z0-9]+", text)) if lang == "zh" else len(text.split())
    if size > _MAX_WORDS[lang]:
        return f"{size} words, longer than an instruction ({_MAX_WORDS[lang]})"
    return None


@dataclass
class _Attempt:
    method: str
    lang: str
    seeds: list[dict]  # the first is the parent of record
    detail: str
    prompt: str
    sample_seed: int
    instruction: str = ""
    response: str = ""
    similarity: float | None = None


def plan_attempts(cleaned: pl.DataFrame, rules: GenerationRules) -> list[_Attempt]:
    """The seeded attempts: per language and method, `per_method_per_lang` draws of seeds (and evolution mode)."""
    attempts = []
    for lang in rules.langs:
        pool = seed_pool(cleaned, lang)
        if not pool:
            continue
        for method in rules.methods:
            for number in range(rules.per_method_per_lang):
                rng = random.Random(f"{rules.seed}:{method}:{lang}:{number}")
                if method == "self_instruct":
                    seeds = rng.sample(pool, min(rules.few_shot, len(pool)))
                    detail = f"few-shot from {len(seeds)} seeds"
                    prompt = self_instruct_prompt([s["instruction"] for s in seeds], lang)
                else:
                    seeds = [rng.choice(pool)]
                    mode = rng.choice(EVOL_MODES)
                    detail = f"{'in_breadth' if mode == 'breadth' else 'in_depth'}:{mode}"
                    prompt = evol_prompt(seeds[0]["instruction"], mode, lang)
                attempts.append(_Attempt(method, lang, seeds, detail, prompt, rng.randrange(2 ** 31)))
    return attempts


def _child(attempt: _Attempt, model_id: str) -> dict:
    parent = attempt.seeds[0]
    messages = [{"role": "user", "content": attempt.instruction}, {"role": "assistant", "content": attempt.response}]
    return {**parent, "pair_id": pair_id_of(messages), "messages": messages, "system": None,
            "instruction": attempt.instruction, "input": "", "response": attempt.response,
            "text": render_plain(attempt.instruction, "", attempt.response), "reference_answer": None,
            "domain_hint": None, "task_hint": None, "difficulty_hint": None, "pii_kinds": None, "n_turns": 1,
            "operator": attempt.method, "parent_pair_id": parent["pair_id"], "is_augmented": True,
            "model_id": model_id, "similarity": attempt.similarity, "operator_detail": attempt.detail,
            "seed_pair_ids": [s["pair_id"] for s in attempt.seeds], "judge_score": None}


def _reject(attempt: _Attempt, model_id: str, reason: str, detail: str, pair_id: str | None = None) -> dict:
    return {"pair_id": pair_id, "parent_pair_id": attempt.seeds[0]["pair_id"], "operator": attempt.method,
            "model_id": model_id, "lang": attempt.lang, "instruction": attempt.instruction or None,
            "reason": reason, "detail": detail, "similarity": attempt.similarity}


def _near_duplicate(attempt: _Attempt, seed_sims: np.ndarray, child_sims: np.ndarray,
                    rules: GenerationRules) -> tuple | None:
    """An evolved-in-depth instruction may stay closer to its seed (evol_max_similarity) than any other new
    instruction to its seeds or to an earlier child (max_similarity)."""
    in_depth = attempt.method == "evol_instruct" and attempt.detail.startswith("in_depth")
    for sims, limit, what in ((seed_sims, rules.evol_max_similarity if in_depth else rules.max_similarity,
                               "one of its seeds"), (child_sims, rules.max_similarity, "an earlier child")):
        if sims.size and sims.max() >= limit:
            return "near_duplicate", f"similarity {sims.max():.3f} >= {limit} to {what}"
    return None


def _instruction_issues(attempts: list[_Attempt], embed: EmbedFn | None, rules: GenerationRules) -> list[tuple | None]:
    """Gate 1 per attempt: (reason, detail) or None. An instruction that passes is compared with the later ones."""
    found = [lang for lang, _ in language.identify([a.instruction or "-" for a in attempts])]
    vectors = embed([a.instruction for a in attempts] + [s["instruction"] for a in attempts for s in a.seeds]) \
        if embed is not None and attempts else None
    seed_rows = len(attempts)
    accepted: list[int] = []
    out: list[tuple | None] = []
    for index, (attempt, lang) in enumerate(zip(attempts, found)):
        issue = None
        if not attempt.instruction:
            issue = ("no_output", "no instruction in the model's reply")
        elif (shape := instruction_shape_issue(attempt.instruction, attempt.lang)) is not None:
            issue = ("not_an_instruction", shape)
        elif attempt.lang == "zh" and not _ZH_REQUEST.search(attempt.instruction):
            issue = ("not_an_instruction", "neither asks nor requests: reads like a statement or an answer")
        elif lang != attempt.lang:
            issue = ("language_changed", f"instruction language {attempt.lang} -> {lang}")
        elif vectors is not None:
            seed_sims = vectors[seed_rows:seed_rows + len(attempt.seeds)] @ vectors[index]
            child_sims = vectors[accepted] @ vectors[index]
            attempt.similarity = round(float(np.concatenate([seed_sims, child_sims]).max()), 4)
            issue = _near_duplicate(attempt, seed_sims, child_sims, rules)
        seed_rows += len(attempt.seeds)
        if issue is None:
            accepted.append(index)
        out.append(issue)
    return out


def generate_pairs(cleaned: pl.DataFrame, rules: GenerationRules, generator: Generator, judge: Generator,
                   embed: EmbedFn | None = None, progress: Callable[[str], None] | None = None) -> Generated:
    """Grow, answer, gate and grade new pairs from `cleaned` (see the module doc)."""
    validate(rules)
    model_id = generator.model_id
    attempts = plan_attempts(cleaned, rules)
    result = Generated([], [], dict.fromkeys(rules.methods, 0.0), len(attempts))

    def call(attempt: _Attempt, prompt: str, **params) -> str | None:
        """One model call for the attempt, timed; None, with the attempt rejected, when it ran out of time."""
        started = time.perf_counter()
        try:
            return generate(generator, [prompt], timeout_s=rules.timeout_s, **params)[0]
        except ModelTimeout as err:
            result.rejected.append(_reject(attempt, model_id, "model_timeout", str(err)))
            return None
        finally:
            result.seconds[attempt.method] += time.perf_counter() - started

    written = []
    for attempt in attempts:
        reply = call(attempt, attempt.prompt, max_new_tokens=rules.instruction_tokens, temperature=rules.temperature,
                     top_p=0.9, seed=attempt.sample_seed, system=GENERATOR_SYSTEM)
        if reply is not None:
            attempt.instruction = parse_instruction(reply)
            written.append(attempt)
    if progress:
        progress(f"generation: {len(written)} of {len(attempts)} instructions written")
    candidates = []
    for attempt, issue in zip(written, _instruction_issues(written, embed, rules)):
        if issue:
            result.rejected.append(_reject(attempt, model_id, *issue))
            continue
        answer = call(attempt, attempt.instruction, max_new_tokens=rules.answer_tokens,
                      system=ANSWER_SYSTEM[attempt.lang])
        if answer is None:
            continue
        attempt.response = answer.strip()
        if attempt.response:
            candidates.append((attempt, _child(attempt, model_id)))
        else:
            result.rejected.append(_reject(attempt, model_id, "no_output", "empty answer"))
    grading = []
    if candidates:
        frame = pl.DataFrame([child for _, child in candidates], infer_schema_length=None)
        issues = cheap_issues(frame, [a.seeds[0]["instruction"] for a, _ in candidates], set(normalized_keys(cleaned)))
        for (attempt, child), issue in zip(candidates, issues):
            if issue:
                result.rejected.append(_reject(attempt, model_id, *issue, pair_id=child["pair_id"]))
            else:
                grading.append((attempt, child))
    started = time.perf_counter()
    scores = judge_scores(judge, [(child["instruction"], child["response"]) for _, child in grading])
    result.seconds["judge"] = time.perf_counter() - started
    for (attempt, child), graded in zip(grading, scores):
        if graded.score is None:
            result.rejected.append(_reject(attempt, model_id, "no_judge_score", "the judge put no probability on "
                                           "any grade", pair_id=child["pair_id"]))
        elif graded.score < rules.min_judge_score:
            result.rejected.append(_reject(attempt, model_id, "low_judge_score", f"judge {graded.score:.2f} < "
                                           f"{rules.min_judge_score}", pair_id=child["pair_id"]))
        else:
            result.children.append({**child, "judge_score": round(graded.score, 4)})
    if progress:
        progress(f"generation: {len(result.children)} of {len(attempts)} attempts kept")
    return result
