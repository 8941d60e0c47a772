"""Dedup for the cleaning stage: exact-duplicate keys, the preference that picks the copy to keep, and the
near-duplicate pass over the part files (conversation prefixes, MinHash candidates, the precise check of
dup_verify.py, star clusters). Pure functions over polars frames and numpy arrays; cleaning.py runs them.
"""
from __future__ import annotations

from itertools import repeat
from typing import Protocol

import numpy as np
import polars as pl
import pyarrow as pa

from .dup_verify import VerifyRules, shared_part_keys, star_clusters
from .near_dedup import NearDupRules, candidate_pairs, connected_components, minhash_signatures


class Part(Protocol):
    """What the near-duplicate pass needs of one part file: its path, its rows' keys, their signatures."""
    path: object
    keys: pl.DataFrame
    sig: np.ndarray | None


# A whitespace run other than one plain space: what `\s+` -> " " changes, without rewriting every single space
# (5x faster in polars).
_WHITESPACE_RUN = r"[^\S ]\s*| \s+"
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def text_keys(texts: pl.Series) -> pl.Series:
    """128-bit keys of texts, as 32 hex digits: two differently seeded polars hashes. Seeded, they are the same
    in every process of one polars version, which is all dedup needs (keys are compared within one run)."""
    halves = np.stack([texts.hash(seed=1).to_numpy(), texts.hash(seed=2).to_numpy()], axis=1)
    raw = halves.astype(">u8").view(np.uint8)
    digits = _HEX_DIGITS[np.stack([raw >> 4, raw & 15], axis=2)].reshape(-1)
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), texts.len(), [None, pa.py_buffer(digits)])
    return pl.from_arrow(fixed.cast(pa.binary()).cast(pa.string())).alias(texts.name)


def dup_keys(kept: pl.DataFrame, fold_text: bool) -> list[pl.Series]:
    """norm_hash (the exact-duplicate key: roles and contents, folded for case and whitespace when
    `fold_text`) and _prefix_keys (the keys the conversation's earlier exchanges would have on their own: the
    messages up to each assistant turn but the last; null for single-turn pairs)."""
    # Messages joined by \x1f, which normalization removed from the (stripped) contents: the joined string
    # folds in one pass and splits back into its messages.
    conversation = kept.select(pl.col("messages").list.eval(pl.concat_str(
        pl.element().struct.field("role"), pl.lit(":"), pl.element().struct.field("content"))).list.join("\x1f"))
    conversation = conversation.to_series()
    if fold_text:
        conversation = conversation.str.to_lowercase().str.replace_all(_WHITESPACE_RUN, " ")
    # Python only cuts the prefixes of the (few) multi-turn rows; they are keyed like whole conversations.
    multi = (kept["n_turns"] > 1).arg_true().to_list()
    owners, prefixes = [], []
    for i, text in zip(multi, conversation.gather(multi).to_list()):
        parts = text.split("\x1f")
        for k in range(1, len(parts)):
            if parts[k - 1].startswith("assistant:"):
                owners.append(i)
                prefixes.append("\x1f".join(parts[:k]))
    prefix_keys: list[list[str] | None] = [None] * kept.height  # None, not [], is 10x faster to build
    for i in multi:
        prefix_keys[i] = []
    for i, key in zip(owners, text_keys(pl.Series(prefixes, dtype=pl.Utf8)).to_list()):
        prefix_keys[i].append(key)
    return [text_keys(conversation).alias("norm_hash"), pl.Series("_prefix_keys", prefix_keys, dtype=pl.List(pl.Utf8))]


SOURCE_ORDER = ["source", "file", "line", "locator"]
# Which copy of a duplicate is kept: the first by these keys (descending where True), then by source order.
# A complete answer (its last message ends like a sentence, a quote, a bracket or code, or is at most 40
# characters) beats a cut one, a cased text beats a lower-cased copy, fewer noise marks (mid-word capitals,
# U+FFFD, runs of punctuation, space before punctuation, ASCII punctuation in Chinese: an input method left
# switched) beat more, and the longer text wins last (a copy that kept a sentence another lost).
PREFERENCE = {"q_complete": True, "q_cased": True, "q_noise": False, "chars": True}
_PREFERENCE_WHY = {"q_complete": "a complete ending", "q_cased": "not lower-cased", "q_noise": "less noise",
                   "chars": "longer"}
_COMPLETE_END = r"[.!?。！？…\"'”’)\]}>*`~）」』》】]\s*$"
_NOISE = r"\p{Ll}\p{Lu}\p{Ll}|\x{FFFD}|[!?.,]{4,}|\s[,.;:!?](?:\s|$)|\p{Han}[,;:?!]|[,;:?!]\p{Han}"


def preference_keys(kept: pl.DataFrame) -> pl.DataFrame:
    """PREFERENCE's columns, and _text: the conversation's contents one per line (what MinHash reads)."""
    text = pl.col("messages").list.eval(pl.element().struct.field("content")).list.join("\n")
    last = pl.col("messages").list.last().struct.field("content")
    return kept.select(
        text.alias("_text"),
        (last.str.contains(_COMPLETE_END) | (last.str.len_chars() <= 40)).alias("q_complete"),
        (text.str.contains("[A-Z]") | ~text.str.contains("[a-z]")).alias("q_cased"),
        text.str.count_matches(_NOISE).cast(pl.Int64).alias("q_noise"),
        text.str.len_chars().cast(pl.Int64).alias("chars"))


def prompt_and_response(pairs: pl.DataFrame) -> pl.DataFrame:
    """Columns p (every non-assistant turn) and r (every assistant turn) of each pair, one turn per line."""
    role = pl.element().struct.field("role")
    return pairs.select(*(pl.col("messages").list.eval(pl.element().filter(side).struct.field("content"))
                          .list.join("\n").alias(name)
                          for name, side in (("p", role != "assistant"), ("r", role == "assistant"))))


def near_dup_features(kept: pl.DataFrame, text: pl.Series, rules: NearDupRules) -> tuple[np.ndarray, list[np.ndarray]]:
    """(MinHash signatures of the conversation texts, [prompt hashes, response hashes]) of a chunk's kept rows:
    computed where the texts are at hand, so that the parent finds candidates without holding any text."""
    split = prompt_and_response(kept)
    # One thread: this runs in the worker processes, which keep every core busy already.
    return minhash_signatures(text.to_list(), rules, threads=1), shared_part_keys(split["p"], split["r"])


def _stack_in_order(parts: list[Part], order: np.ndarray, total: int) -> np.ndarray:
    """The parts' signatures stacked in `order` (indices into all kept rows), freeing each part's array once
    copied, so that at most one extra copy of the signatures exists at a time."""
    slot = np.full(total, -1, dtype=np.int64)
    slot[order] = np.arange(order.size)
    out = None
    offset = 0
    for part in parts:
        sig = part.sig
        if out is None:
            out = np.empty((order.size, sig.shape[1]), dtype=sig.dtype)
        dest = slot[offset:offset + sig.shape[0]]
        take = dest >= 0
        out[dest[take]] = sig[take]
        offset += sig.shape[0]
        part.sig = None
    return out


def kept_because(frame: pl.DataFrame, keys: pl.DataFrame) -> pl.Series:
    """Per row of `frame` (raw_id, kept_pair_id), the first PREFERENCE key on which the kept copy won."""
    cols = list(PREFERENCE)
    # pair_id hashes the content, so byte-identical copies share it (and their preference keys).
    kept = keys.select(pl.col("pair_id").alias("kept_pair_id"), *(pl.col(c).alias(c + "_k") for c in cols))
    both = frame.select("raw_id", "kept_pair_id").join(
        keys.select("raw_id", *cols), on="raw_id", how="left", maintain_order="left").join(
        kept.unique("kept_pair_id"), on="kept_pair_id", how="left", maintain_order="left")
    why = pl.lit("earlier in source order")
    for c in reversed(cols):
        better = pl.col(c + "_k") > pl.col(c) if PREFERENCE[c] else pl.col(c + "_k") < pl.col(c)
        why = pl.when(better).then(pl.lit(_PREFERENCE_WHY[c])).otherwise(why)
    return both.select(why.alias("why")).to_series()


def _read_conversations(paths: list[str], offsets: np.ndarray, rows: np.ndarray) -> list[list[tuple[str, str]]]:
    """(role, content) messages of the given kept rows (indices over all part files, `_i`; part k holds rows
    offsets[k] to offsets[k + 1]), in the order given, read back from the part files: only candidates' texts
    are ever held in memory."""
    out: list = [None] * rows.size
    part_of = np.searchsorted(offsets, rows, side="right") - 1
    for k in np.unique(part_of).tolist():
        mine = np.flatnonzero(part_of == k)
        messages = pl.read_parquet(paths[k], columns=["messages"])["messages"].gather(rows[mine] - offsets[k])
        for j, conv in zip(mine.tolist(), messages.to_list()):
            out[j] = [(m["role"], m["content"]) for m in conv]
    return out


def cluster_shard(paths: list[str], offsets: np.ndarray, rows: np.ndarray, first: np.ndarray, second: np.ndarray,
                  verify: VerifyRules) -> tuple[np.ndarray, np.ndarray]:
    """`star_clusters` over one shard of the candidates: `rows` are the shard's kept rows (`_i`) in preference
    order, first/second its pairs as positions in `rows`. Runs in a worker process: it reads its texts itself."""
    texts = _read_conversations(paths, offsets, rows)
    return star_clusters(rows.size, first, second, texts.__getitem__, verify)


def component_shards(first: np.ndarray, second: np.ndarray, cost: np.ndarray, shards: int) -> list[np.ndarray]:
    """Positions of the candidate pairs split into up to `shards` groups of about equal summed `cost` (per
    row), each connected component of the candidate graph whole in one group. A row's verdict in
    `star_clusters` depends only on the pairs of its component, so clustering each group alone gives the same
    representatives as clustering all pairs at once."""
    if first.size == 0:
        return []
    rows, ends = np.unique(np.concatenate([first, second]), return_inverse=True)
    root = connected_components(rows.size, ends[:first.size], ends[first.size:])
    _, pair_component = np.unique(root[ends[:first.size]], return_inverse=True)
    component_cost = np.bincount(pair_component, weights=cost[first] + cost[second] + 1.0)
    # Components in order, cut where the running cost passes each 1/shards of the total.
    before = np.cumsum(component_cost) - component_cost
    shard = np.minimum((before * shards / component_cost.sum()).astype(np.intp), shards - 1)[pair_component]
    groups = [np.flatnonzero(shard == s) for s in range(shards)]
    return [g for g in groups if g.size]


def verify_candidates(paths: list[str], offsets: np.ndarray, order: np.ndarray, first: np.ndarray,
                      second: np.ndarray, cost: np.ndarray, verify: VerifyRules, map_shards=map,
                      shards: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(representative, edits) of the rows in preference order (`order`: their `_i`), as `star_clusters` gives
    them for the candidate pairs first/second (positions in `order`), with the pairs split by
    `component_shards` and the shards run through `map_shards` (a process pool's map spreads them over its
    workers; the builtin map runs them here)."""
    rep, edits = np.arange(order.size), np.zeros(order.size, dtype=np.int64)
    tasks = []
    for pairs in component_shards(first, second, cost, shards):
        rows = np.unique(np.concatenate([first[pairs], second[pairs]]))
        tasks.append((rows, np.searchsorted(rows, first[pairs]), np.searchsorted(rows, second[pairs])))
    results = map_shards(cluster_shard, repeat(paths, len(tasks)), repeat(offsets, len(tasks)),
                         [order[rows] for rows, _, _ in tasks], [a for _, a, _ in tasks],
                         [b for _, _, b in tasks], repeat(verify, len(tasks)))
    for (rows, _, _), (shard_rep, shard_edits) in zip(tasks, results):
        rep[rows], edits[rows] = rows[shard_rep], shard_edits
    return rep, edits


def near_duplicates(keys: pl.DataFrame, parts: list[Part], near: NearDupRules, verify: VerifyRules,
                    action: str, map_shards=map, shards: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(raw_id -> cluster_id of the rows kept, near-duplicate rejects), over the rows of `keys` (exact
    duplicates already out; `_i` indexes all kept rows of the parts).

    A conversation whose messages (folded as for exact dedup) are the first exchanges of a longer one is the
    redundant copy: it goes, pointing at the longest such conversation. Among the rest, MinHash LSH on the
    whole conversation text proposes candidates and dup_verify checks each on the texts, message by message
    (so branches that share turns but end in different answers stay apart), clustering star-wise around the
    best copy. The best copy comes first by PREFERENCE (complete ending, not lower-cased, less noise, longer),
    then source order; each reject's detail names the key it lost on. The check runs in `shards` groups of
    whole candidate components through `map_shards` (see `verify_candidates`); the result does not depend on
    how many.
    """
    prefix = keys.select(pl.col("pair_id").alias("_longer"), pl.col("chars").alias("_longer_chars"),
                         pl.col("n_msgs").alias("_longer_msgs"), pl.col("_prefix_keys").alias("norm_hash"),
                         ).explode("norm_hash").drop_nulls("norm_hash")
    shorter = (keys.select("pair_id", "raw_id", "source", "norm_hash", "n_msgs").join(prefix, on="norm_hash")
               .sort(["_longer_chars", "_longer", "pair_id"], descending=[True, False, False])
               .unique("pair_id", keep="first", maintain_order=True)  # in a fixed order, run after run
               .select("pair_id", "raw_id", "source", "n_msgs", "_longer_msgs", kept_pair_id="_longer"))
    ordered = keys.join(shorter.select("pair_id"), on="pair_id", how="anti").sort(
        [*PREFERENCE, *SOURCE_ORDER], descending=[*PREFERENCE.values(), False, False, False, False],
        nulls_last=True)
    order = ordered["_i"].to_numpy()
    sig = _stack_in_order(parts, order, sum(p.keys.height for p in parts))
    first, second = candidate_pairs(sig, near, [ordered["prompt_key"].to_numpy(), ordered["response_key"].to_numpy()])
    del sig
    rep, edits = verify_candidates([str(p.path) for p in parts], np.cumsum([0] + [p.keys.height for p in parts]),
                                   order, first, second, ordered["chars"].to_numpy(), verify, map_shards, shards)
    ordered = ordered.with_columns(cluster_id=ordered["pair_id"].gather(rep), _edits=pl.Series(edits),
                                   _gap=(ordered["chars"] - ordered["chars"].gather(rep)).abs())
    # A prefix conversation joins its longer one's cluster, wherever that went.
    shorter = shorter.join(ordered.select(pl.col("pair_id").alias("kept_pair_id"), "cluster_id"),
                           on="kept_pair_id", how="left").with_columns(kept_pair_id=pl.col("cluster_id"))
    is_dup = pl.col("cluster_id") != pl.col("pair_id")
    copies = ordered.filter(is_dup).with_columns(kept_pair_id=pl.col("cluster_id"))
    copies = copies.with_columns(_why=kept_because(copies, keys)).select(
        "pair_id", "raw_id", "source", pl.lit("near_duplicate").alias("reason"),
        pl.format("near-duplicate of pair {}: every message a copy ({} character edits beyond a length "
                  "difference of {}); kept the other as {}", "kept_pair_id", "_edits", "_gap", "_why"
                  ).alias("detail"),
        "kept_pair_id")
    prefixes = shorter.select(
        "pair_id", "raw_id", "source", pl.lit("near_duplicate").alias("reason"),
        pl.format("its {} messages are the first of pair {}'s {}: a shorter copy of that conversation",
                  "n_msgs", "kept_pair_id", "_longer_msgs").alias("detail"), "kept_pair_id")
    if action == "keep":
        return (pl.concat([ordered.select("raw_id", "cluster_id"), shorter.select("raw_id", "cluster_id")]),
                pl.concat([copies, prefixes]).head(0))
    return ordered.filter(~is_dup).select("raw_id", "cluster_id"), pl.concat([copies, prefixes])
