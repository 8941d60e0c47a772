"""Run config of the cleaned_pairs asset: typed fields with the core's defaults, turned into `CleanRules`.

Defaults are read from the core's rule classes, so the UI's launchpad and a direct call of the core agree.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import dagster as dg
from pydantic import Field

from instr_assets.core.clean import (cleaning, decontaminate, dup_verify, ending_model, near_dedup, pii, quality, safety,
                                     semantic_dedup)

_RULES = cleaning.CleanRules()
_Q = _RULES.quality
_PII = _RULES.pii
_NEAR = _RULES.near_dup
_VERIFY = _RULES.near_dup_verify
_DECON = _RULES.decontamination
_SEMANTIC = semantic_dedup.SemanticDedupRules()
_ENDING = _RULES.ending


class CleanConfig(dg.Config):
    max_prompt_chars: int = Field(default=_RULES.max_prompt_chars, ge=1)
    # Quality filters
    min_chars_zh: int = Field(default=_Q.min_chars_zh, ge=0, description="response length bounds for Chinese, in non-space characters")
    max_chars_zh: int = Field(default=_Q.max_chars_zh, ge=1)
    min_words: int = Field(default=_Q.min_words, ge=0, description="response length bounds for English and other languages, in words")
    max_words: int = Field(default=_Q.max_words, ge=1)
    max_repetition: float = Field(default=_Q.max_repetition, gt=0, le=1, description="share of repeated n-grams (in prose) above which a response is rejected")
    max_special_ratio: float = Field(default=_Q.max_special_ratio, gt=0, le=1)
    refusal_policy: Literal["refusal_only", "any_disclaimer"] = Field(
        default=_Q.refusal_policy, description="reject only responses that refuse (refusal_only), or also a disclaimer "
                                               "that goes on to answer (any_disclaimer)")
    refusal_min_answer_words: int = Field(default=_Q.refusal_min_answer_words, ge=0,
                                          description="fewer words than this besides refusal and disclaimer sentences is no answer")
    refusal_min_answer_chars_zh: int = Field(default=_Q.refusal_min_answer_chars_zh, ge=0,
                                             description="the same for Chinese, in characters")
    doubled_min_chars: int = Field(default=_Q.doubled_min_chars, ge=1,
                                   description="letters or digits in each copy of a response written twice")
    truncation_consistent_lines: int = Field(default=_Q.truncation_consistent_lines, ge=0, description="a last "
                                             "paragraph without a full stop is cut off when at least this many earlier "
                                             "ones all end on one; 0: a missing final stop alone never counts")
    truncation_model: Literal["auto", "on", "off"] = Field(
        default=_ENDING.mode, description="a language model (the bundled Qwen2.5-Coder-1.5B GGUF) judges answers the "
        "truncation rules leave open (prose ending on a word without a full stop) by the probability, given the question, "
        "that the answer ends there; 'auto' does so when the candidates fit truncation_model_max_candidates (about 2.3 s "
        "a candidate on a 2-core CPU, cached)")
    truncation_model_max_candidates: int = Field(default=_ENDING.max_candidates, ge=1,
                                                 description="in 'auto' mode, more candidates than this skip the check")
    truncation_model_threshold_en: float = Field(default=_ENDING.threshold_en, ge=0, lt=1,
                                                 description="an English answer whose probability of ending is below this is cut off")
    truncation_model_threshold_zh: float = Field(default=_ENDING.threshold_zh, ge=0, lt=1,
                                                 description="the same for Chinese (a clause mark counts as an ending)")
    disabled_filters: list[str] = Field(default=[], description=f"quality filters to skip, any of {list(quality.FILTERS)}")
    blocklist_file: str = Field(default=str(quality.DEFAULT_BLOCKLIST), description="one unsafe term per line; empty for none")
    # PII
    pii_action: Literal["redact", "drop", "off"] = Field(default=_RULES.pii_action, description="redact PII with typed placeholders, drop the pair, or leave it")
    pii_kinds: list[str] = Field(default=list(_PII.kinds), description=f"PII kinds looked for, any of {list(pii.PII_KINDS)}")
    pii_ip_classes: list[str] = Field(default=sorted(_PII.ip_classes),
                                      description=f"IP address classes that count as personal, any of {list(pii.IP_CLASSES)}")
    pii_phone_regions: list[str] = Field(default=list(_PII.phone_regions),
                                         description="regions whose national numbers (without '+') are found in text without Han characters")
    pii_phone_regions_cjk: list[str] = Field(default=list(_PII.phone_regions_cjk),
                                             description="the same for text with Han characters")
    pii_phone_regions_more: list[str] = Field(default=list(_PII.phone_regions_more),
                                              description="regions tried next, for national numbers (with their "
                                                          "trunk 0) that the regions above could not even hold")
    # Language
    languages: list[str] = Field(default=list(_RULES.languages), description="languages kept (fastText codes such as en, zh, fr); empty keeps all")
    min_lang_confidence: float = Field(default=_RULES.min_lang_confidence, ge=0, le=1, description="below this fastText probability the script guess stands")
    # Duplicates
    exact_dup_fold: bool = Field(default=_RULES.exact_dup_fold, description="exact-duplicate keys ignore case, whitespace and line breaks")
    near_dup_action: Literal["drop", "keep", "off"] = Field(
        default=_RULES.near_dup_action, description="drop all but the best pair of each near-duplicate cluster, keep them all (tagged "
                                    "with cluster_id, kept in one split), or skip near-duplicate clustering")
    near_dup_threshold: float = Field(default=_NEAR.threshold, gt=0, le=1,
                                      description="estimated Jaccard of character n-grams at which MinHash proposes a candidate pair")
    near_dup_shared_threshold: float = Field(default=_NEAR.shared_threshold, gt=0, le=1,
                                             description="the same for pairs that share their prompt or their response")
    near_dup_num_perm: int = Field(default=_NEAR.num_perm, ge=8, description="MinHash permutations")
    near_dup_bands: Optional[int] = Field(default=None, ge=1, description="LSH bands; unset = chosen from the threshold")
    near_dup_rows: Optional[int] = Field(default=None, ge=1, description="rows per LSH band; unset = chosen from the threshold")
    near_dup_ngram: int = Field(default=_NEAR.ngram, ge=1, description="character n-gram length")
    near_dup_max_edit_ratio: float = Field(default=_VERIFY.max_edit_ratio, ge=0, le=1,
                                           description="edits beyond the length difference, as a share of the shorter text, that copies may have")
    near_dup_min_typo_chars: int = Field(default=_VERIFY.min_typo_chars, ge=0,
                                         description="texts at least this long get one extra edit (a typo in a short prompt)")
    near_dup_min_length_ratio: float = Field(default=_VERIFY.min_length_ratio, ge=0, le=1,
                                             description="a copy with a sentence added or removed keeps this share of the longer text")
    workers: int = Field(default=_RULES.workers, ge=0, description="processes for the per-row cleaning operators; 0 = one per CPU")
    semantic_dedup: bool = Field(default=False, description="after the other steps, drop pairs that say what a better pair "
                                 "says in other words (multilingual-e5 embeddings of prompt and response; about 0.1-0.2 s "
                                 "per pair on a CPU, cached): semantic_duplicate")
    semantic_dedup_prompt_threshold: float = Field(default=_SEMANTIC.prompt_threshold, gt=0, le=1,
                                                   description="prompt cosine at or above which two pairs may be one")
    semantic_dedup_response_threshold: float = Field(default=_SEMANTIC.response_threshold, gt=0, le=1,
                                                     description="response cosine at or above which two pairs may be one")
    # Content safety and decontamination
    safety_action: Literal["drop", "off"] = Field(
        default=_RULES.safety_action, description="drop pairs the content-safety rules flag (unsafe_<category>), or skip them")
    safety_categories: list[str] = Field(default=list(_RULES.safety_categories),
                                         description=f"content-safety categories checked, any of {list(safety.CATEGORIES)}")
    decontaminate_against: list[str] = Field(
        default=[], description="JSONL files of evaluation items (turns/question/instruction/prompt field) whose prompts "
                                "training pairs must not share an n-gram with; sources marked 'evaluation: true' count too")
    contamination_ngram_words: int = Field(default=_DECON.ngram_words, ge=1, description="shared words that make a pair contaminated")
    contamination_ngram_chars_zh: int = Field(default=_DECON.ngram_chars_zh, ge=1,
                                              description="shared Han characters that make a pair contaminated")
    # The cleaned_reject_share_per_source check (the cleaning itself does not read these)
    max_reject_share_per_source: float = Field(default=0.5, ge=0, le=1,
                                               description="a source losing a larger share of its pairs to cleaning fails the check")
    reject_share_blocks: bool = Field(default=False, description="that check blocks publication (ERROR) instead of warning")

    def semantic_rules(self) -> semantic_dedup.SemanticDedupRules:
        return semantic_dedup.SemanticDedupRules(self.semantic_dedup_prompt_threshold,
                                                 self.semantic_dedup_response_threshold)

    def rules(self, evaluation_sources: tuple[str, ...] = ()) -> cleaning.CleanRules:
        unknown = set(self.disabled_filters) - set(quality.FILTERS)
        if unknown:
            raise dg.Failure(description=f"config field 'disabled_filters': unknown {sorted(unknown)}; known are {list(quality.FILTERS)}")
        if self.blocklist_file and not Path(self.blocklist_file).exists():
            raise dg.Failure(description=f"config field 'blocklist_file': {self.blocklist_file} does not exist")
        q = quality.QualityRules(
            min_chars_zh=self.min_chars_zh, max_chars_zh=self.max_chars_zh, min_words=self.min_words,
            max_words=self.max_words, max_repetition=self.max_repetition, max_special_ratio=self.max_special_ratio,
            refusal_policy=self.refusal_policy, refusal_min_answer_words=self.refusal_min_answer_words,
            refusal_min_answer_chars_zh=self.refusal_min_answer_chars_zh, doubled_min_chars=self.doubled_min_chars,
            truncation_consistent_lines=self.truncation_consistent_lines,
            disabled=frozenset(self.disabled_filters))
        rules = cleaning.CleanRules(
            max_prompt_chars=self.max_prompt_chars, quality=q, pii_action=self.pii_action,
            pii=pii.PiiRules(kinds=tuple(self.pii_kinds), ip_classes=frozenset(self.pii_ip_classes),
                             phone_regions=tuple(self.pii_phone_regions),
                             phone_regions_cjk=tuple(self.pii_phone_regions_cjk),
                             phone_regions_more=tuple(self.pii_phone_regions_more)),
            blocklist_terms=quality.load_blocklist(self.blocklist_file) if self.blocklist_file else (),
            languages=tuple(self.languages), min_lang_confidence=self.min_lang_confidence,
            near_dup=near_dedup.NearDupRules(
                threshold=self.near_dup_threshold, num_perm=self.near_dup_num_perm, bands=self.near_dup_bands,
                rows=self.near_dup_rows, shared_threshold=self.near_dup_shared_threshold, ngram=self.near_dup_ngram),
            near_dup_verify=dup_verify.VerifyRules(
                max_edit_ratio=self.near_dup_max_edit_ratio, min_typo_chars=self.near_dup_min_typo_chars,
                min_length_ratio=self.near_dup_min_length_ratio),
            near_dup_action=self.near_dup_action, exact_dup_fold=self.exact_dup_fold, workers=self.workers,
            safety_action=self.safety_action, safety_categories=tuple(self.safety_categories),
            decontamination=decontaminate.DecontaminationRules(
                evaluation_sources, tuple(self.decontaminate_against),
                self.contamination_ngram_words, self.contamination_ngram_chars_zh),
            ending=ending_model.EndingRules(
                mode=self.truncation_model, threshold_en=self.truncation_model_threshold_en,
                threshold_zh=self.truncation_model_threshold_zh, max_candidates=self.truncation_model_max_candidates))
        try:
            cleaning.validate_rules(rules)
        except ValueError as e:
            # The core names the field as 'near_dup.bands' or 'pii ip_classes'; the config spells it near_dup_bands.
            field_name = str(e).split(":")[0].replace(".", "_").replace(" ", "_")
            raise dg.Failure(description=f"config field '{field_name}': {e}") from None
        return rules
