"""Domain and task-type labels from multilingual embeddings: nearest prototypes instead of keywords.

Each label has short example instructions in English and Chinese (instr_assets/data/label_prototypes.yaml). A pair
is embedded twice (its instruction for the task, a longer text for the domain, see pair_texts) and scored against
every label of the field: the mean cosine of its `top_k` closest prototypes. A softmax over those
scores gives the label's probability; the top probability is the confidence, and below `min_confidence` the pair
gets the fallback label instead (a guess between two close labels is worse for a stratum than an honest default).

What a source already says wins over the model: a verifiable task's kind or a reading-comprehension source
(`task_hint`), a domain declared for the source (`domain_hint`), and more than one turn (multi_turn_chat).
The taxonomy is documented in docs/taxonomy.md. No Dagster here.
"""
from __future__ import annotations

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
TASK_INPUT_CHARS = 100
PROMPT_CHARS = 400
RESPONSE_CHARS = 200
LABEL_COLUMNS = ("domain", "task_type", "label_confidence", "domain_origin", "task_origin")


class TextEmbedder(Protocol):
    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray: ...


@dataclass(frozen=True)
class LabelRules:
    min_confidence: float = 0.4  # top softmax probability below which the fallback label is used
    temperature: float = 0.02  # softmax temperature over cosine scores (e5 similarities sit in a narrow band)
    top_k: int = 3  # a label scores the mean of its k closest prototypes
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
    """What is embedded per pair, by field. The task is in the instruction: the topic of a long input or response
    would pull the pair toward prototypes about the same topic. The domain is the topic, so it gets the start of
    the input and the response too."""
    task, domain = [], []
    for instruction, input_text, response in pairs.select("instruction", "input", "response").iter_rows():
        instruction, input_text = (instruction or "").strip(), (input_text or "").strip()
        task.append(f"{instruction}\n{input_text[:TASK_INPUT_CHARS]}".strip())
        prompt = f"{instruction}\n{input_text}".strip()
        domain.append(f"{prompt[:PROMPT_CHARS]}\n{(response or '').strip()[:RESPONSE_CHARS]}".strip())
    return {"task_type": task, "domain": domain}


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def score_labels(vectors: np.ndarray, proto_vectors: np.ndarray, protos: Prototypes,
                 rules: LabelRules) -> tuple[list[str], np.ndarray]:
    """(best label per row, its softmax probability) from unit vectors."""
    sims = vectors @ proto_vectors.T  # (n, prototypes): cosine, as both sides have unit length
    scores = np.empty((len(vectors), len(protos.labels)), dtype=np.float64)
    for index in range(len(protos.labels)):
        own = np.sort(sims[:, protos.owner == index], axis=1)[:, ::-1]
        scores[:, index] = own[:, :rules.top_k].mean(axis=1)
    logits = (scores - scores.max(axis=1, keepdims=True)) / rules.temperature
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    return [protos.labels[i] for i in best], probs[np.arange(len(best)), best]


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
    if any(need["domain"]) or any(need["task_type"]):
        texts = pair_texts(pairs)
        proto_vectors = {f: np.asarray(embedder.embed(list(p.texts), kind="query"), dtype=np.float32)
                         for f, p in protos.items()}
        # e5 vectors share a large common component, so raw cosines bunch together; measuring from the mean of
        # all prototypes spreads them and lets the label-specific part decide.
        center = np.concatenate(list(proto_vectors.values())).mean(axis=0)
        for field, p in protos.items():
            rows = [i for i in range(n) if need[field][i]]
            if not rows:
                continue
            vectors = np.asarray(embedder.embed([texts[field][i] for i in rows], kind="query"), dtype=np.float32)
            labels, probs = score_labels(_unit(vectors - center), _unit(proto_vectors[field] - center), p, rules)
            guesses[field] = {i: (label, float(prob)) for i, label, prob in zip(rows, labels, probs)}
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
