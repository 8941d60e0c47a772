"""Small PNG charts for materialization metadata: polars frames in, PNG bytes out.

The matplotlib object API with an explicit Agg canvas: no pyplot state and no display, so it is safe in a run
worker. Labels are ASCII on purpose: the default font has no CJK glyphs, and every label here is a language
code, a stratum name or an axis title, so nothing is lost and no missing-glyph warnings flood the run log.
"""
from __future__ import annotations

import io

import polars as pl

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LANG_ORDER = ("en", "zh", "other")
_BEFORE, _AFTER = "#b8c4d6", "#2b6cb0"


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=72)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    # No "Software" chunk: the same data gives the same bytes whatever the matplotlib version.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _ascii(text: str) -> str:
    return str(text).encode("ascii", "replace").decode("ascii")


def text_lengths(pairs: pl.DataFrame, column: str) -> pl.Series:
    """Length in the units the quality filter uses: non-space characters for Chinese, words otherwise."""
    return pairs.select(
        pl.when(pl.col("lang") == "zh")
        .then(pl.col(column).fill_null("").str.replace_all(r"\s", "").str.len_chars())
        .otherwise(pl.col(column).fill_null("").str.count_matches(r"\S+"))
        .cast(pl.Int64).alias(column))[column]


def length_histograms(pairs: pl.DataFrame) -> bytes:
    """Instruction and response length per language, side by side, on log-spaced bins."""
    import numpy as np

    fig, axes = _figure(8, 3.2, ncols=2)
    langs = [lang for lang in LANG_ORDER if lang in set(pairs["lang"].to_list())] if pairs.height else []
    langs += sorted(set(pairs["lang"].to_list()) - set(langs)) if pairs.height else []
    for ax, column in zip(axes, ("instruction", "response")):
        lengths = pairs.with_columns(text_lengths(pairs, column).alias("_len")) if pairs.height else pairs
        top = max(int(lengths["_len"].max() or 1), 1) if pairs.height else 1
        bins = np.unique(np.round(np.geomspace(1, top + 1, 25)))
        for lang in langs:
            values = lengths.filter(pl.col("lang") == lang)["_len"].clip(lower_bound=1).to_list()
            ax.hist(values, bins=bins, histtype="step", linewidth=1.5, label=_ascii(f"{lang} (n={len(values)})"))
        ax.set_xscale("log")
        ax.set_title(f"{column} length")
        ax.set_xlabel("words (zh: characters)")
        ax.set_ylabel("pairs")
        ax.grid(alpha=0.3)
        if langs:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no rows", ha="center", va="center", transform=ax.transAxes)
    return _png(fig)


def stratum_balance(before: pl.DataFrame, after: pl.DataFrame, cap: int | None = None) -> bytes:
    """Balanced sampling at a glance. `before` and `after` hold one row per pair with `stratum`
    ("domain/task/difficulty") and `group_id`; the cap applies to groups, so the left panel counts groups per
    stratum (largest first, cap dashed), and the right panel counts pairs per domain."""
    fig, (left, right) = _figure(8, 3.4, ncols=2)
    groups = (before.group_by("stratum").agg(pl.col("group_id").n_unique().alias("before"))
              .join(after.group_by("stratum").agg(pl.col("group_id").n_unique().alias("after")), on="stratum", how="left")
              .with_columns(pl.col("after").fill_null(0)).sort(["before", "stratum"], descending=[True, False]))
    x = list(range(groups.height))
    left.bar(x, groups["before"].to_list(), width=0.9, color=_BEFORE, label="before sampling")
    left.bar(x, groups["after"].to_list(), width=0.55, color=_AFTER, label="after sampling")
    if cap is not None:
        left.axhline(cap, color="#c53030", linestyle="--", linewidth=1, label=f"cap ({cap} groups)")
    if 0 < groups.height <= 12:
        left.set_xticks(x, [_ascii(s) for s in groups["stratum"].to_list()], rotation=60, ha="right", fontsize=6)
    else:
        left.set_xticks([])  # dozens of strata: the names would be unreadable; the shape is the point
    left.set_xlabel(f"{groups.height} strata, largest first")
    left.set_ylabel("groups (pair + children)")
    left.set_title("groups per stratum")
    left.legend(fontsize=8)

    def per_domain(df: pl.DataFrame, name: str) -> pl.DataFrame:
        return df.select(pl.col("stratum").str.split("/").list.first().alias("domain")).group_by("domain").len(name=name)

    domains = (per_domain(before, "before").join(per_domain(after, "after"), on="domain", how="left")
               .with_columns(pl.col("after").fill_null(0)).sort("domain", descending=True))
    y = list(range(domains.height))
    right.barh([v + 0.2 for v in y], domains["before"].to_list(), height=0.4, color=_BEFORE, label="before")
    right.barh([v - 0.2 for v in y], domains["after"].to_list(), height=0.4, color=_AFTER, label="after")
    right.set_yticks(y, [_ascii(d) for d in domains["domain"].to_list()], fontsize=7)
    right.set_xlabel("pairs")
    right.set_title("pairs per domain")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x" if ax is right else "y")
    return _png(fig)


def mixture_chart(mixture: pl.DataFrame, strata: pl.DataFrame, confidence: list[float | None], by: str,
                  top_strata: int = 15) -> bytes:
    """The stratum report at a glance, three panels. `mixture` (mixture.mixture_report: value, pairs_before,
    pairs_after, target_share, achieved_share): the natural, target and achieved share per value of `by`.
    `strata` (counts_before_after by stratum: value, pairs_before, pairs_after, largest first): pairs per
    stratum before and after sampling, repeats counted, the `top_strata` largest. `confidence`: the label
    confidence of each kept pair, null for rule labels, as a histogram."""
    fig, (mix, per_stratum, conf) = _figure(10.5, 3.6, ncols=3)
    rows = mixture.sort("value", descending=True)
    total_before = max(int(rows["pairs_before"].sum() or 0), 1)
    y = list(range(rows.height))
    for offset, values, color, name in (
            (0.27, (rows["pairs_before"] / total_before).to_list(), _BEFORE, "natural"),
            (0.0, rows["target_share"].to_list(), "#ed8936", "target"),
            (-0.27, rows["achieved_share"].to_list(), _AFTER, "achieved")):
        mix.barh([v + offset for v in y], values, height=0.26, color=color, label=name)
    mix.set_yticks(y, [_ascii(v) for v in rows["value"].to_list()], fontsize=7)
    mix.set_xlabel("share of pairs")
    mix.set_title(_ascii(f"mixture by {by}"))
    mix.legend(fontsize=7)

    shown = strata.head(top_strata).reverse()
    y = list(range(shown.height))
    per_stratum.barh([v + 0.2 for v in y], shown["pairs_before"].to_list(), height=0.4, color=_BEFORE, label="before")
    per_stratum.barh([v - 0.2 for v in y], shown["pairs_after"].to_list(), height=0.4, color=_AFTER, label="after")
    per_stratum.set_yticks(y, [_ascii(v) for v in shown["value"].to_list()], fontsize=6)
    more = strata.height - shown.height
    per_stratum.set_title(f"pairs per stratum (+{more} smaller)" if more > 0 else "pairs per stratum")
    per_stratum.set_xlabel("pairs (repeats counted)")
    per_stratum.legend(fontsize=7)

    known = [c for c in confidence if c is not None]
    if known:
        conf.hist(known, bins=[i / 20 for i in range(21)], color=_AFTER)
        conf.set_xlim(0, 1)
        conf.set_title(f"label confidence ({len(known)} pairs)")
    else:
        conf.text(0.5, 0.5, "rule labels:\nno confidence", ha="center", va="center", transform=conf.transAxes)
        conf.set_title("label confidence")
    conf.set_xlabel("confidence")
    conf.set_ylabel("pairs")
    for ax in (mix, per_stratum, conf):
        ax.grid(alpha=0.3, axis="x" if ax is not conf else "y")
    return _png(fig)
