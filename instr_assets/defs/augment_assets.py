"""The augmentation asset: augmented_pairs, the cleaned pairs and the children that passed every gate, with the
rejected children and their reasons."""

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.augment import augmentation
from instr_assets.core.augment.gates import GateRules
from instr_assets.core.augment.noise import NoiseRates
from instr_assets.core.storage import DataStore
from instr_assets.core.versioning import frame_version, stage_code_version

from .clean_assets import cleaned_pairs
from .gx_bridge import Expect, GxRecord
from .metadata import counts, frame_table, table_metadata
from .publication import check_spec, published_metadata, stop_unless_checks_pass, upstream_version
from .resources import DataStoreResource


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

    def rules(self) -> augmentation.AugmentRules:
        return augmentation.AugmentRules(
            seed=self.seed, operators=tuple(self.operators), max_augmented_share=self.max_augmented_share,
            apply_prob=self.apply_prob, synonym_rate=self.synonym_rate, synonym_pos=tuple(self.synonym_pos),
            synonym_langs=tuple(self.synonym_langs), noise=NoiseRates(self.noise_word_rate, self.noise_char_rate),
            gates=GateRules(self.min_similarity, self.max_similarity))


def cached_embedder(store: DataStore):
    """multilingual-e5-small behind the runtime's content cache, so a rebuild embeds nothing it has seen."""
    from instr_assets.core.models.runtime.cache import OutputCache
    from instr_assets.core.models.runtime.embeddings import Embedder

    return Embedder(cache=OutputCache.in_folder(store.root))


def _similarity_embedder(store: DataStore):
    embedder = cached_embedder(store)
    return lambda texts: embedder.embed(texts, "query")


@dg.asset(
    deps=[cleaned_pairs], group_name="instruction_data", kinds={"polars", "parquet"},
    code_version=stage_code_version("augmented_pairs"),
    description="Cleaned pairs plus seeded augmentations of the instruction: synonyms from WordNet 3.0 / HIT Cilin, "
                "rule-based question <-> imperative and clause moves, EDA-style noise. Each child passes gates "
                "(similarity band, language, cleaning filters, no duplicate) and names its parent, operator, model "
                "or lexicon and similarity; rejects go to augmented_pairs_rejected with a reason; the share is capped.",
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
    except ValueError as e:
        raise dg.Failure(description=f"augmented_pairs config: {e}") from None
    try:
        embed = _similarity_embedder(store) if config.similarity_gate else None
        result = augmentation.augment(cleaned, rules, embed, context.log.info)
    except (ImportError, FileNotFoundError) as e:  # a lexicon or the embedding model is not installed
        raise dg.Failure(description=f"augmented_pairs: {e}") from None
    out, rejected = result.pairs, result.rejected
    children = out.filter(pl.col("is_augmented"))
    lineage = children.select("pair_id", pl.col("parent_pair_id").is_in(cleaned["pair_id"].implode()).alias("parent_known"),
                              "operator")
    with GxRecord(store.root, "augmented_pairs") as record:
        checks = [
            record.check("augmented_pair_id_unique", out, [Expect("unique", "pair_id")], ids="pair_id"),
            record.check("augmented_lineage", lineage, [Expect("in_set", "parent_known", {"values": [True]}),
                                                        Expect("in_set", "operator", {"values": list(augmentation.OPERATORS)})],
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
            "examples": frame_table(
                children.join(cleaned.select("pair_id", pl.col("instruction").alias("parent_instruction")),
                              left_on="parent_pair_id", right_on="pair_id").select("operator", "model_id", "similarity",
                                                                                   "parent_instruction", "instruction").head(6)),
        },
        check_results=checks,
    )


