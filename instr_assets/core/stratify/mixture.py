"""Mixing you can set: target shares of the pairs per source, domain, task type or stratum, reached by
dropping or repeating whole leak groups.

The targets are either given (`targets`, normalized to sum to 1) or come from temperature sampling over the
values present: a value with n pairs gets a share proportional to n ** (1 / temperature), so temperature 1
keeps the natural mixture (nothing dropped, nothing repeated) and a higher one flattens it. The total is the
input's size (or `total_pairs`), lowered until no value needs more than `max_repeats` copies of its pairs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

MIX_BY = ("source", "domain", "task_type", "stratum")


@dataclass(frozen=True)
class MixtureSpec:
    by: str = "source"
    targets: dict[str, float] = field(default_factory=dict)
    temperature: float = 1.0
    max_repeats: int = 3
    total_pairs: int | None = None

    def validate(self) -> None:
        if self.by not in MIX_BY:
            raise ValueError(f"mixture 'by' must be one of {MIX_BY}, not {self.by!r}")
        if self.temperature <= 0 or self.max_repeats < 1:
            raise ValueError("mixture temperature must be > 0 and max_repeats >= 1")
        if any(v < 0 for v in self.targets.values()) or (self.targets and sum(self.targets.values()) <= 0):
            raise ValueError(f"mixture targets must be >= 0 and not all 0: {self.targets}")


def target_shares(natural: dict[str, int], spec: MixtureSpec) -> dict[str, float]:
    """The target share of each value, from the pairs per value in the input."""
    if spec.targets:
        unknown = sorted(set(spec.targets) - set(natural))
        if unknown:
            raise ValueError(f"mixture targets name {spec.by} values absent from the data: {unknown} "
                             f"(present: {sorted(natural)})")
        total = sum(spec.targets.values())
        return {k: spec.targets.get(k, 0.0) / total for k in natural}
    weights = {k: n ** (1 / spec.temperature) for k, n in natural.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def _is_natural(natural: dict[str, int], shares: dict[str, float]) -> bool:
    size = sum(natural.values())
    return all(abs(shares[k] - n / size) < 1e-12 for k, n in natural.items())


def _copies(sizes: list[int], goal: float, max_repeats: int) -> list[int]:
    """Copies per group (in the given order) so that their pairs add up closest to `goal`: every group
    `goal // size` times, then groups one more time, in order, while that brings the sum closer."""
    size = sum(sizes)
    base = min(int(goal // size), max_repeats)
    copies = [base] * len(sizes)
    rest = goal - base * size
    if base < max_repeats:
        for i, s in enumerate(sizes):
            if rest >= s / 2:
                copies[i] += 1
                rest -= s
    return copies


def sample_groups(groups: pl.DataFrame, spec: MixtureSpec) -> tuple[pl.DataFrame, dict[str, float]]:
    """(groups with `repeats`, 0 for a dropped group; the target shares). `groups` holds one row per leak group
    with `group_id`, `mix_value` (its value of `spec.by`), `pairs` and `order` (a seeded shuffle); `spec` is
    valid (`MixtureSpec.validate`)."""
    natural = dict(groups.group_by("mix_value").agg(pl.col("pairs").sum()).iter_rows())
    shares = target_shares(natural, spec)
    if _is_natural(natural, shares) and spec.total_pairs is None:
        return groups.with_columns(pl.lit(1, pl.Int32).alias("repeats")), shares
    total = spec.total_pairs or sum(natural.values())
    # The largest total no value needs more than max_repeats copies of its pairs for.
    total = min([total] + [natural[k] * spec.max_repeats / s for k, s in shares.items() if s > 0])
    repeats = []
    for value, part in groups.sort("mix_value", "order").partition_by("mix_value", as_dict=True, maintain_order=True).items():
        copies = _copies(part["pairs"].to_list(), shares[value[0]] * total, spec.max_repeats)
        repeats.append(part.with_columns(pl.Series("repeats", copies, pl.Int32)))
    return pl.concat(repeats), shares


def counts_before_after(before: pl.DataFrame, after: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per value of `by`: pairs before sampling and after it, a repeated pair counted once per copy (`after`
    holds a `repeats` column); largest first."""
    return (before.group_by(by).len("pairs_before")
            .join(after.group_by(by).agg(pl.col("repeats").sum().alias("pairs_after")), on=by, how="full", coalesce=True)
            .with_columns(pl.col("pairs_before", "pairs_after").fill_null(0))
            .sort(["pairs_before", by], descending=[True, False]).rename({by: "value"}))


def mixture_report(before: pl.DataFrame, after: pl.DataFrame, by: str, shares: dict[str, float]) -> pl.DataFrame:
    """`counts_before_after`, with target against achieved share."""
    counted = counts_before_after(before, after, by)
    total_after = max(int(counted["pairs_after"].sum()), 1)
    return counted.with_columns(
        pl.col("value").replace_strict(shares, default=0.0, return_dtype=pl.Float64).round(4).alias("target_share"),
        (pl.col("pairs_after") / total_after).round(4).alias("achieved_share"))
