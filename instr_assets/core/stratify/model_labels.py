"""Domain and task-type labels from multilingual embeddings: nearest prototypes instead of keywords.

Each label has short example instructions in English and Chinese (instr_assets/data/label_prototypes.yaml). A pair
is embedded twice (its prompt, and the start of its response, see pair_texts) and scored against every label of
the field: the mean cosine of its `top_k` closest prototypes. The task is scored from the prompt alone; the domain
from the prompt and, with weight `response_weight`, the response (the topic is often clearer in the answer). The
pair's shape then rules out task types it cannot be (pair_shape): a label set, a rewrite or a mechanical edit needs
a given text, extractive QA a passage, a calculation a number, and code in the pair makes it coding. A softmax over
the remaining scores gives each label's probability; the top probability is the confidence, and below
`min_confidence` the pair gets the fallback label instead (a guess between two close labels is worse for a stratum
than an honest default).

What a source already says wins over the model: a verifiable task's kind or a reading-comprehension source
(`task_hint`), a domain declared for the source (`domain_hint`), and more than one turn (multi_turn_chat).
The taxonomy is documented in docs/taxonomy.md. No Dagster here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
import yaml

PROTOTYPES_FILE = Path(__file__).resolve().parents[2] / "data" / "label_prototypes.yaml"
MULTI_TURN_TASK = "multi_turn_chat"
# Task kinds that sources declare (ingest: squad sources, generated verifiable tasks) and the task type each means.
SOURCE_TASK_KINDS = {
    "arithmetic": "calculation", "unit_conversion": "calculation", "date_arithmetic": "calculation",
    "string_manipulation": "text_manipulation", "list_manipulation": "text_manipulation",
    "extractive_qa": "extractive_qa",
}
SOURCE_MATH_KINDS = ("arithmetic", "unit_conversion", "date_arithmetic")
# Characters of a pair that are embedded (see pair_texts); longer text costs embedding time and adds little.
PROMPT_INPUT_CHARS = 100
RESPONSE_CHARS = 300
# Shape of a pair (pair_shape). Lines that only code starts with; two of them (or one in a ``` fence) are code.
_CODE_LINE = re.compile(r"^\s*(def |class |import |from \S+ import |#include|public |private |function\b|SELECT |"
                        r"INSERT |UPDATE |CREATE |for\s*\(|for .+ in .+:|while .+:|if .+:|return\b|console\.log|"
                        r"print\(|var |let |const |\}|<\w+[^>]*>$)", re.M | re.I)
# A text given inside the instruction: quoted, or after a colon.
_GIVEN_IN_INSTRUCTION = re.compile(r"[“\"「『‘'][^”\"」』’']{2,}[”\"」』’']|[:：]\s*\S.{8,}")
PASSAGE_CHARS = 150  # a given text this long can be a passage to answer from (extractive QA)
# Which shape each task type needs (keys of pair_shape); coding also wins outright where there is code.
TASK_NEEDS = {"classification": "given_text", "rewriting": "given_text", "text_manipulation": "given_text",
              "extractive_qa": "passage", "calculation": "digits", "coding": "code"}
LABEL_COLUMNS = ("domain", "task_type", "label_confidence", "domain_origin", "task_origin")


class TextEmbedder(Protocol):
    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray: ...


@dataclass(frozen=True)
class LabelRules:
    min_confidence: float = 0.2  # top softmax probability below which the fallback label is used
    # Softmax temperature over cosine scores (e5 similarities sit in a narrow band); 0.03 makes label_confidence
    # match the share of right labels on the labelled set (bench/results/label_bench.md, calibration).
    temperature: float = 0.03
    top_k: int = 3  # a label scores the mean of its k closest prototypes
    response_weight: float = 0.75  # weight of the response against the prompt in the domain score
    fallback_domain: str = "general"
    fallback_task: str = "open_qa"
    prototypes_file: str = str(PROTOTYPES_FILE)


@dataclass(frozen=True)
class Prototypes:
    field: str  # "domain" or "task_type"
    labels: tuple[str, ...]
    texts: tuple[str, ...]
    owner: np.ndarray  # index into `labels` of each text


def load_prototypes(path: Path | str = PROTOTYPES_FILE) -> dict[str, Prototypes]:
    """{"domain": ..., "task_type": ...} from the YAML file; a malformed file raises ValueError naming the place."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"label prototypes {path}: cannot read: {err}") from err
    out = {}
    for field in ("domain", "task_type"):
        section = (data or {}).get(field) if isinstance(data, dict) else None
        if not isinstance(section, dict) or not section:
            raise ValueError(f"label prototypes {path}: section '{field}' is missing or empty")
        labels, texts, owner = [], [], []
        for label, by_lang in section.items():
            if not isinstance(by_lang, dict) or not all(isinstance(v, list) for v in by_lang.values()):
                raise ValueError(f"label prototypes {path}: {field}.{label} must map languages to lists of examples")
            examples = [t for lang_list in by_lang.values() for t in lang_list]
            bad = [t for t in examples if not isinstance(t, str) or not t.strip()]
            if not examples or bad:
                raise ValueError(f"label prototypes {path}: {field}.{label} needs non-empty example strings")
            labels.append(label)
            texts += examples
            owner += [len(labels) - 1] * len(examples)
        out[field] = Prototypes(field, tuple(labels), tuple(texts), np.array(owner))
    return out


def pair_texts(pairs: pl.DataFrame) -> dict[str, list[str]]:
    """What is embedded per pair: "prompt", the instruction and the start of the input (the task is in the
    instruction; a long input would pull the pair toward prototypes about its topic), and "response", the start
    of the response (for the domain only)."""
    prompt = [f"{(instruction or '').strip()}\n{(input_text or '').strip()[:PROMPT_INPUT_CHARS]}".strip()
              for instruction, input_text in pairs.select("instruction", "input").iter_rows()]
    response = [(r or "").strip()[:RESPONSE_CHARS] for r in pairs["response"]]
    return {"prompt": prompt, "response": response}


def _has_code(text: str) -> bool:
    lines = len(_CODE_LINE.findall(text))
    return lines >= 2 or (lines >= 1 and "```" in text)


def pair_shape(instruction: str, input_text: str, response: str) -> dict[str, bool]:
    """What the pair's form says about its task: given_text (an input, or a quoted text or one after a colon in
    the instruction), passage (a given text of PASSAGE_CHARS or more), digits (a number in the prompt) and code
    (code lines in the prompt or the response)."""
    instruction, input_text, response = instruction or "", (input_text or "").strip(), response or ""
    return {"given_text": bool(input_text) or _GIVEN_IN_INSTRUCTION.search(instruction) is not None,
            "passage": len(input_text) >= PASSAGE_CHARS or len(instruction) >= 2 * PASSAGE_CHARS,
            "digits": any(c.isdigit() for c in instruction + input_text),
            "code": _has_code(instruction) or _has_code(input_text) or _has_code(response)}


def task_mask(shapes: list[dict[str, bool]], labels: tuple[str, ...]) -> np.ndarray:
    """(pairs, labels) of 0 where the task type fits the pair's shape and -inf where it cannot be; a pair with
    code allows only coding. A row that would rule out every label (a prototype file without open_qa and
    generation) is left open: the shape cannot decide it."""
    mask = np.zeros((len(shapes), len(labels)))
    for row, shape in enumerate(shapes):
        for col, label in enumerate(labels):
            need = TASK_NEEDS.get(label)
            if (need and not shape[need]) or (shape["code"] and label != "coding" and "coding" in labels):
                mask[row, col] = -np.inf
    mask[np.isinf(mask).all(axis=1)] = 0.0
    return mask


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def label_scores(vectors: np.ndarray, proto_vectors: np.ndarray, protos: Prototypes, top_k: int) -> np.ndarray:
    """(rows, labels): the mean cosine of each label's `top_k` closest prototypes, from unit vectors."""
    sims = vectors @ proto_vectors.T  # (n, prototypes): cosine, as both sides have unit length
    scores = np.empty((len(vectors), len(protos.labels)), dtype=np.float64)
    for index in range(len(protos.labels)):
        own = np.sort(sims[:, protos.owner == index], axis=1)[:, ::-1]
        scores[:, index] = own[:, :top_k].mean(axis=1)
    return scores


def best_labels(scores: np.ndarray, labels: tuple[str, ...], temperature: float) -> tuple[list[str], np.ndarray]:
    """(best label per row, its softmax probability); a score of -inf rules a label out."""
    logits = (scores - scores.max(axis=1, keepdims=True)) / temperature
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    return [labels[i] for i in best], probs[np.arange(len(best)), best]


# Prototype vectors per (embedding model, prototype texts) for the life of the process: every fresh data store
# (each test, each new output folder) would otherwise embed the same ~700 prototypes again.
_PROTOTYPE_VECTORS: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}


def _prototype_vectors(embedder: TextEmbedder, protos: Prototypes) -> np.ndarray:
    model = getattr(embedder, "model_id", None)
    key = (model, protos.texts)
    if model is None or key not in _PROTOTYPE_VECTORS:
        vectors = np.asarray(embedder.embed(list(protos.texts), kind="query"), dtype=np.float32)
        if model is None:
            return vectors
        _PROTOTYPE_VECTORS[key] = vectors
    return _PROTOTYPE_VECTORS[key]


def _column(pairs: pl.DataFrame, name: str, default) -> list:
    return pairs[name].to_list() if name in pairs.columns else [default] * pairs.height


def model_labels(pairs: pl.DataFrame, embedder: TextEmbedder, rules: LabelRules = LabelRules()) -> pl.DataFrame:
    """One row per row of `pairs`, in order: pair_id, domain, task_type, label_confidence (the lower of the two
    labels' confidences; 1.0 for a label the source gave), domain_origin and task_origin ("source", "turns",
    "model" or "fallback").

    `pairs` needs instruction, input and response; n_turns, task_hint, domain_hint and pair_id are used when
    present. Pass an embedder with an OutputCache so that a rebuild embeds nothing again."""
    missing = [c for c in ("instruction", "input", "response") if c not in pairs.columns]
    if missing:
        raise ValueError(f"model_labels: pairs lack column(s) {missing}")
    protos = load_prototypes(rules.prototypes_file)
    for field, fallback in (("domain", rules.fallback_domain), ("task_type", rules.fallback_task)):
        if fallback not in protos[field].labels:
            raise ValueError(f"model_labels: fallback {field} {fallback!r} is not one of {protos[field].labels}")
    n = pairs.height
    domains = set(protos["domain"].labels)
    domain_hints = [(h or "").strip().lower() for h in _column(pairs, "domain_hint", None)]
    task_hints = _column(pairs, "task_hint", None)
    turns = [t or 1 for t in _column(pairs, "n_turns", 1)]
    # Only pairs whose label the source or the turn count does not settle are embedded for that field.
    need = {"domain": [h not in domains and k not in SOURCE_MATH_KINDS for h, k in zip(domain_hints, task_hints)],
            "task_type": [k not in SOURCE_TASK_KINDS and t <= 1 for k, t in zip(task_hints, turns)]}
    guesses: dict[str, dict[int, tuple[str, float]]] = {"domain": {}, "task_type": {}}
    rows = [i for i in range(n) if need["domain"][i] or need["task_type"][i]]
    if rows:
        texts = pair_texts(pairs[rows])
        proto_vectors = {f: _prototype_vectors(embedder, p) for f, p in protos.items()}
        # e5 vectors share a large common component, so raw cosines bunch together; measuring from the mean of
        # all prototypes spreads them and lets the label-specific part decide.
        center = np.concatenate(list(proto_vectors.values())).mean(axis=0)
        units = {f: _unit(v - center) for f, v in proto_vectors.items()}
        vectors = {part: _unit(np.asarray(embedder.embed(texts[part], kind="query"), dtype=np.float32) - center)
                   for part in ("prompt", "response")}
        with_response = np.array([bool(t) for t in texts["response"]])
        weight = np.where(with_response, rules.response_weight, 0.0)[:, None]
        domain_scores = (label_scores(vectors["prompt"], units["domain"], protos["domain"], rules.top_k)
                         + weight * label_scores(vectors["response"], units["domain"], protos["domain"], rules.top_k))
        shapes = [pair_shape(*r) for r in pairs[rows].select("instruction", "input", "response").iter_rows()]
        task_scores = (label_scores(vectors["prompt"], units["task_type"], protos["task_type"], rules.top_k)
                       + task_mask(shapes, protos["task_type"].labels))
        for field, scores in (("domain", domain_scores / (1 + weight)), ("task_type", task_scores)):
            labels, probs = best_labels(scores, protos[field].labels, rules.temperature)
            guesses[field] = {i: (label, float(prob)) for i, label, prob in zip(rows, labels, probs)
                              if need[field][i]}
    out_rows = []
    for i in range(n):
        if domain_hints[i] in domains:
            domain, domain_conf, domain_origin = domain_hints[i], 1.0, "source"
        elif task_hints[i] in SOURCE_MATH_KINDS:
            domain, domain_conf, domain_origin = "math_reasoning", 1.0, "source"
        else:
            domain, domain_conf = guesses["domain"][i]
            domain_origin = "model"
            if domain_conf < rules.min_confidence:
                domain, domain_origin = rules.fallback_domain, "fallback"
        if task_hints[i] in SOURCE_TASK_KINDS:
            task, task_conf, task_origin = SOURCE_TASK_KINDS[task_hints[i]], 1.0, "source"
        elif turns[i] > 1:
            task, task_conf, task_origin = MULTI_TURN_TASK, 1.0, "turns"
        else:
            task, task_conf = guesses["task_type"][i]
            task_origin = "model"
            if task_conf < rules.min_confidence:
                task, task_origin = rules.fallback_task, "fallback"
        out_rows.append((domain, task, round(min(domain_conf, task_conf), 4), domain_origin, task_origin))
    out = pl.DataFrame(out_rows, schema={"domain": pl.Utf8, "task_type": pl.Utf8, "label_confidence": pl.Float64,
                                         "domain_origin": pl.Utf8, "task_origin": pl.Utf8}, orient="row")
    if "pair_id" in pairs.columns:
        out = out.insert_column(0, pairs["pair_id"])
    return out
