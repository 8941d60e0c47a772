"""The augmentation asset: augmented_pairs, the cleaned pairs and the children that passed every gate, with the
rejected children and their reasons."""

import dataclasses
import os

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.augment import augmentation, generation, judging
from instr_assets.core.augment.gates import GateRules
from instr_assets.core.augment.noise import NoiseRates
from instr_assets.core.storage import DataStore
from instr_assets.core.versioning import frame_version, stage_code_version

from .clean_assets import cleaned_pairs
from .gx_bridge import Expect, GxRecord
from .metadata import counts, frame_table, table_metadata
from .publication import check_spec, published_metadata, stop_unless_checks_pass, upstream_version
from .resources import DataStoreResource, model_cache, query_embedder


class AugmentConfig(dg.Config):
    seed: int = 13
    operators: list[str] = Field(default=list(augmentation.OPERATORS), description=f"any of {list(augmentation.OPERATORS)}")
    max_augmented_share: float = Field(default=0.25, ge=0.0, lt=1.0)
    apply_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    synonym_rate: float = Field(default=0.15, gt=0.0, le=1.0, description="share of an instruction's words the "
                                "synonym operator replaces (at least one)")
    synonym_pos: list[str] = Field(default=["verb", "adj", "adv"], description="parts of speech the synonym operator "
                                   "may replace; 'noun' too changed the topic too often in review")
    synonym_langs: list[str] = Field(default=["en"], description="languages the synonym operator runs on; 'zh' "
                                     "(HIT Cilin) is opt-in: 12 of 20 Chinese children were good in review")
    noise_word_rate: float = Field(default=0.1, gt=0.0, le=1.0, description="noise: share of the words swapped, "
                                   "inserted or deleted")
    noise_char_rate: float = Field(default=0.03, gt=0.0, le=1.0, description="noise: share of the letters with a typo")
    similarity_gate: bool = Field(default=True, description="embed parent and child (multilingual-e5-small) and "
                                  "reject a child outside [min_similarity, max_similarity)")
    min_similarity: float = Field(default=0.80, ge=0.0, le=1.0, description="below: the meaning drifted")
    max_similarity: float = Field(default=0.995, ge=0.0, le=1.0, description="at or above: the child adds nothing")
    augment_model: str = Field(
        default=os.environ.get("INSTR_ASSETS_AUGMENT_MODEL", "default"),
        description="model of the operators backtranslation and model_rewrite, of generation and of the judge: "
                    "'default' (the bundled "
                    "Qwen2.5-Coder-1.5B-Instruct GGUF through llama.cpp; when its file is missing these operators "
                    "are skipped with a warning), a .gguf path, a Hugging Face id or folder, or 'fake' (tests). "
                    "$INSTR_ASSETS_AUGMENT_MODEL sets the default")
    model_quota_cpu: int = Field(default=12, ge=0, description="pairs each model operator is tried on per run when "
                                 "the model runs on a CPU (at most one child each; 3 model calls per pair for "
                                 "both operators together, ~4 s a call on 2 idle cores with 1 thread: ~2.5 minutes)")
    model_quota_gpu: int = Field(default=2000, ge=0, description="the same when the model runs on a CUDA GPU (a "
                                 "Hugging Face model with CUDA present)")
    model_threads: int = Field(default=1, ge=1, description="CPU threads of a GGUF model: on 2 busy cores 1 was "
                               "faster than 2")
    rewrite_temperature: float = Field(default=0.7, ge=0.0, description="model_rewrite samples (seeded) at this "
                                       "temperature: greedy decoding mostly returned the request unchanged")
    backtranslate_responses: bool = Field(default=False, description="back-translate the response too where the "
                                          "task allows it (no input, no code, no computed answer, short); off by "
                                          "default: a response costs ~10x an instruction on a CPU")
    max_response_chars: int = Field(default=400, ge=1, description="longer responses are not back-translated")
    model_timeout_s: float = Field(default=120.0, gt=0, description="a model call past this many seconds gives "
                                   "no child (rejected as model_timeout) instead of failing the run")
    generation_enabled: bool = Field(default=True, description="grow new pairs from the seeds with the model "
                                     "(Self-Instruct, Evol-Instruct), answered and graded by it; false leaves "
                                     "model-made pairs out")
    generation_methods: list[str] = Field(default=list(generation.GENERATION_METHODS),
                                          description=f"any of {list(generation.GENERATION_METHODS)}")
    generation_quota_cpu: int = Field(default=generation.CPU_ATTEMPTS, ge=0, description="generation attempts per "
                                      "method and language when the model runs on a CPU (up to 3 model calls each: "
                                      "instruction, answer, grade)")
    generation_quota_gpu: int = Field(default=generation.GPU_ATTEMPTS, ge=0, description="the same on a CUDA GPU")
    generation_min_judge_score: float = Field(default=3.0, ge=1.0, le=5.0, description="a generated pair graded "
                                              "below this is rejected (low_judge_score)")
    generation_max_similarity: float = Field(default=0.95, gt=0.0, le=1.0, description="a new instruction this close "
                                             "(e5 cosine) to one of its seeds or to an earlier child is a near-duplicate")
    generation_evol_max_similarity: float = Field(default=0.97, gt=0.0, le=1.0, description="the same for an "
                                                  "instruction evolved in depth against its seed, meant to stay close")
    judge_quota_cpu: int = Field(default=judging.CPU_JUDGE_QUOTA, ge=0, description="pairs the judge scores (a "
                                 "seeded draw, besides the generated pairs, which are graded anyway) when the model "
                                 "runs on a CPU; on a GPU it scores every pair; 0 turns the judge off")
    judge_all: bool = Field(default=False, description="score every pair on a CPU too (a few seconds each)")
    min_judge_score: float | None = Field(default=None, ge=1.0, le=5.0, description="drop scored pairs graded below "
                                          "this (to the rejected table as low_judge_score); off by default")

    def generation_rules(self, on_gpu: bool) -> generation.GenerationRules:
        return generation.GenerationRules(
            seed=self.seed, methods=tuple(self.generation_methods),
            per_method_per_lang=self.generation_quota_gpu if on_gpu else self.generation_quota_cpu,
            min_judge_score=self.generation_min_judge_score, max_similarity=self.generation_max_similarity,
            evol_max_similarity=self.generation_evol_max_similarity, timeout_s=self.model_timeout_s)

    def judge_rules(self, on_gpu: bool) -> judging.JudgeRules:
        every = self.judge_all or (on_gpu and self.judge_quota_cpu > 0)
        return judging.JudgeRules(quota=None if every else self.judge_quota_cpu, seed=self.seed)

    def uses_model(self) -> bool:
        return bool(set(self.operators) & set(augmentation.MODEL_OPERATORS)) or self.generation_enabled \
            or self.judge_all or self.judge_quota_cpu > 0

    def rules(self) -> augmentation.AugmentRules:
        return augmentation.AugmentRules(
            seed=self.seed, operators=tuple(self.operators), max_augmented_share=self.max_augmented_share,
            apply_prob=self.apply_prob, synonym_rate=self.synonym_rate, synonym_pos=tuple(self.synonym_pos),
            synonym_langs=tuple(self.synonym_langs), noise=NoiseRates(self.noise_word_rate, self.noise_char_rate),
            gates=GateRules(self.min_similarity, self.max_similarity), model_quota=self.model_quota_cpu,
            rewrite_temperature=self.rewrite_temperature, backtranslate_responses=self.backtranslate_responses,
            max_response_chars=self.max_response_chars, model_timeout_s=self.model_timeout_s)


def _model_operator_generator(config: AugmentConfig, store: DataStore, log):
    """(generator behind the OutputCache, '') for the model operators, or (None, why they are off): the default
    model file missing is a warning (a user who ran setup before scripts/fetch_models.sh), any other model that
    fails to load an error."""
    from instr_assets.core.models.runtime import ModelFileError, default_model_available, load_generator

    if config.augment_model == "default" and not default_model_available():
        why = ("MODEL OPERATORS OFF, generation and the judge too: the default model file is missing or damaged "
               "(run scripts/fetch_models.sh); ran only the rule operators")
        log.warning(why)
        return None, why
    try:
        return load_generator(config.augment_model, threads=config.model_threads,
                              cache=model_cache(store)), ""
    except (ModelFileError, OSError, ValueError) as e:
        raise dg.Failure(description=f"augmented_pairs: model {config.augment_model!r} for the model operators: {e}")


def _model_operators_metadata(rules: augmentation.AugmentRules, generator, note: str) -> dict:
    """What the model operators did: off and why, or their model, quota and the cache's hits and misses."""
    if generator is None:
        return {"status": note or "not configured"}
    calls = generator.hits + generator.misses
    return {"status": "on", "model_id": generator.model_id, "device": "cuda" if _on_cuda(generator) else "cpu",
            "quota_per_operator": rules.model_quota, "model_calls": generator.misses, "cache_hits": generator.hits,
            "cache_hit_rate": round(generator.hits / calls, 4) if calls else None}


def _counted(generator):
    """The same loaded model and cache behind counters of its own, so each part reports its own model calls."""
    from instr_assets.core.models.runtime import CachedGenerator

    return CachedGenerator(generator.inner, generator.cache) if isinstance(generator, CachedGenerator) else generator


def _calls(model) -> dict:
    return {"model_calls": model.misses, "cache_hits": model.hits} if hasattr(model, "hits") else {}


def _generation_metadata(config: AugmentConfig, generated, model, on_gpu: bool, note: str) -> dict:
    if generated is None:
        return {"status": "off" if not config.generation_enabled else note}
    kept = {m: sum(c["operator"] == m for c in generated.children) for m in config.generation_methods}
    return {"status": "on", "attempts": generated.attempts, "kept": kept, "rejected": len(generated.rejected),
            "attempts_per_method_per_lang": config.generation_rules(on_gpu).per_method_per_lang,
            "seconds": {k: round(v, 1) for k, v in generated.seconds.items()}} | _calls(model)


def _judge_metadata(config: AugmentConfig, judged, model, out: pl.DataFrame, on_gpu: bool, note: str) -> dict:
    """How many pairs carry a judge score: the coverage a CPU quota leaves."""
    if judged is None:
        return {"status": note or "off"}
    scored = int(out["judge_score"].is_not_null().sum())
    quota = config.judge_rules(on_gpu).quota
    return {"status": "on", "scored": f"{scored} of {out.height}", "coverage": round(scored / max(out.height, 1), 4),
            "quota": "every pair" if quota is None else quota, "seconds": round(judged.seconds, 1),
            "min_judge_score": config.min_judge_score} | _calls(model)


def _on_cuda(generator) -> bool:
    return str(getattr(getattr(generator, "inner", generator), "device", "cpu")).startswith("cuda")


@dg.asset(
    deps=[cleaned_pairs], group_name="instruction_data", kinds={"polars", "parquet"},
    code_version=stage_code_version("augmented_pairs"),
    description="Cleaned pairs plus seeded augmentations of the instruction: synonyms from WordNet 3.0 / HIT Cilin, "
                "rule-based question <-> imperative and clause moves, EDA-style noise, and by the local model "
                "(a seeded quota per run) back-translation en->zh->en / zh->en->zh and rewrites. Each child passes gates "
                "(similarity band, language, cleaning filters, no duplicate) and names its parent, operator, model "
                "or lexicon and similarity; rejects go to augmented_pairs_rejected with a reason; the share is capped. "
                "Also new pairs generated from the seeds by the model (self_instruct, evol_instruct), answered and "
                "graded, and a judge_score (the model's 1-5 grade) on a seeded quota of pairs, every pair on a GPU.",
    check_specs=[
        check_spec("augmented_pairs", "augmented_pair_id_unique", "pair_id unique"),
        check_spec("augmented_pairs", "augmented_lineage", "every child has a parent among the originals and a known operator"),
        check_spec("augmented_pairs", "augmented_share_capped", "augmented share at most the configured cap"),
    ],
)
def augmented_pairs(context: dg.AssetExecutionContext, config: AugmentConfig, data_store: DataStoreResource):
    store = data_store.store()
    cleaned_version = upstream_version(context, store, "cleaned_pairs")
    cleaned = cleaned_version.read_table("cleaned_pairs")
    try:
        rules = config.rules()
        augmentation.validate(rules)
        generation.validate(config.generation_rules(on_gpu=False))
    except ValueError as e:
        raise dg.Failure(description=f"augmented_pairs config: {e}") from None
    generator, model_note = None, ""
    if config.uses_model():
        generator, model_note = _model_operator_generator(config, store, context.log)
        if generator is None:
            rules = dataclasses.replace(rules, operators=tuple(op for op in rules.operators
                                                               if op not in augmentation.MODEL_OPERATORS))
        elif _on_cuda(generator):
            rules = dataclasses.replace(rules, model_quota=config.model_quota_gpu)
    on_gpu = generator is not None and _on_cuda(generator)
    try:
        embed = query_embedder(store) if config.similarity_gate else None
        generated, generation_model = None, _counted(generator)
        if generator is not None and config.generation_enabled:
            generated = generation.generate_pairs(cleaned, config.generation_rules(on_gpu), generation_model,
                                                  generation_model, embed, context.log.info)
        result = augmentation.augment(cleaned, rules, embed, context.log.info, generated=generated, generator=generator)
    except (ImportError, FileNotFoundError) as e:  # a lexicon or the embedding model is not installed
        raise dg.Failure(description=f"augmented_pairs: {e}") from None
    out, rejected = result.pairs, result.rejected
    judge_model = _counted(generator)
    judged = judging.add_judge_scores(out, judge_model, config.judge_rules(on_gpu)) if generator is not None else None
    if judged is not None:
        out = judged.pairs
    if config.min_judge_score is not None:
        out, low = judging.min_score_filter(out, config.min_judge_score, config.max_augmented_share, config.seed)
        rejected = pl.concat([rejected, low])
    children = out.filter(pl.col("is_augmented"))
    lineage = children.select("pair_id", pl.col("parent_pair_id").is_in(cleaned["pair_id"].implode()).alias("parent_known"),
                              "operator")
    with GxRecord(store.root, "augmented_pairs") as record:
        checks = [
            record.check("augmented_pair_id_unique", out, [Expect("unique", "pair_id")], ids="pair_id"),
            record.check("augmented_lineage", lineage, [Expect("in_set", "parent_known", {"values": [True]}),
                                                        Expect("in_set", "operator", {"values": [
                                                            *augmentation.OPERATORS, *generation.GENERATION_METHODS]})],
                         ids="pair_id"),
            record.check("augmented_share_capped", out.select(pl.col("is_augmented").cast(pl.Float64)),
                         [Expect("mean_between", "is_augmented", {"min": 0.0, "max": config.max_augmented_share + 1e-9})]),
        ]
    with store.publishing("augmented_pairs") as stage:
        path = stage.write_table("augmented_pairs", out)
        stage.write_table("augmented_pairs_rejected", rejected)
        yield from stop_unless_checks_pass(stage, checks)
    per_operator = children.group_by("operator").len("children")
    seconds = pl.DataFrame({"operator": list(result.seconds), "seconds": [round(v, 2) for v in result.seconds.values()]},
                           schema={"operator": pl.Utf8, "seconds": pl.Float64}).join(per_operator, on="operator", how="left")
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(out)),  # the table downstream reads
        metadata=published_metadata(context, stage, cleaned_version) | table_metadata(out, path, ["pair_id", "operator", "parent_pair_id", "instruction"]) | {
            "augmented": children.height,
            "augmented_share": round(children.height / max(out.height, 1), 4),
            "per_operator": counts(out, "operator"),
            "rejected": rejected.height,
            "rejected_by_reason": counts(rejected, "reason"),
            "seconds_per_operator": frame_table(seconds),
            "model_operators": dg.MetadataValue.json(_model_operators_metadata(rules, generator, model_note)),
            "generation": dg.MetadataValue.json(_generation_metadata(config, generated, generation_model, on_gpu,
                                                                     model_note)),
            "judge": dg.MetadataValue.json(_judge_metadata(config, judged, judge_model, out, on_gpu, model_note)),
            "examples": frame_table(
                children.join(cleaned.select("pair_id", pl.col("instruction").alias("parent_instruction")),
                              left_on="parent_pair_id", right_on="pair_id").select("operator", "model_id", "similarity",
                                                                                   "parent_instruction", "instruction").head(6)),
        },
        check_results=checks,
    )


