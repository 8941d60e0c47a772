"""chrF, the loss-curve plot, the HTML renderer, and the eval report's new outputs on the tiny model."""
import base64

import dagster as dg
import polars as pl
import pytest

from instr_assets.core.evaluate.evaluation import (
    chrf, chrf_statistics, chrf_table, corpus_chrf, inline_images, plot_loss_curve, prompt_and_reference, render_html,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------------- chrF
def test_chrf_identical_and_disjoint():
    assert chrf("The cat sat on the mat.", "The cat sat on the mat.") == pytest.approx(100.0)
    assert chrf("abc", "xyz") == 0.0
    assert chrf("", "") == 100.0
    assert chrf("", "reference") == 0.0 and chrf("hypothesis", "") == 0.0


def test_chrf_ignores_whitespace():
    assert chrf("a b  c\n", "abc") == pytest.approx(100.0)
    assert chrf("今天 天气", "今天天气") == pytest.approx(100.0)


def test_chrf_statistics_counts_clipped_matches():
    # "aab" vs "ab": unigrams a,a,b against a,b -> 2 matches (a clipped to 1); bigrams aa,ab against ab -> 1.
    assert chrf_statistics("aab", "ab", char_order=3) == [(2, 3, 2), (1, 2, 1), (0, 1, 0)]


def test_chrf_partial_by_hand():
    # hyp "ab", ref "abc", beta 2: F = 5PR / (4P + R).
    # n=1: 2 matches, P = 2/2, R = 2/3 -> F = (10/3) / (14/3) = 5/7
    # n=2: 1 match (ab), P = 1/1, R = 1/2 -> F = 2.5 / 4.5 = 5/9
    # n>=3: the hypothesis has no 3-gram, so those orders are left out.
    # chrF = 100 * (5/7 + 5/9) / 2 = 63.492...
    assert chrf("ab", "abc") == pytest.approx(100 * (5 / 7 + 5 / 9) / 2)
    # Recall weighs more than precision: the same overlap missing from the hypothesis costs more than extra text.
    assert chrf("ab", "abc") < chrf("abc", "ab")


def test_chrf_chinese_by_hand():
    # 今天天气很好 vs 今天天气不错, six characters each, so P = R = F at every order:
    # n=1: 今 天 天 气 match -> 4/6; n=2: 今天 天天 天气 -> 3/5; n=3: 今天天 天天气 -> 2/4;
    # n=4: 今天天气 -> 1/3; n=5: 0/2; n=6: 0/1.
    # chrF = 100 * (2/3 + 3/5 + 1/2 + 1/3 + 0 + 0) / 6 = 100 * 2.1 / 6 = 35.0
    assert chrf("今天天气很好", "今天天气不错") == pytest.approx(35.0)


def test_corpus_chrf_pools_counts_rather_than_averaging_scores():
    # Pair 1 ("ab", "abc") per order (match, hyp, ref): (2,2,3) (1,1,2); no 3-grams in the hypothesis.
    # Pair 2 ("abcd", "abce"): (3,4,4) (2,3,3) (1,2,2) (0,1,1).
    # Pooled: n=1 (5,6,7): P 5/6, R 5/7 -> F = 5PR/(4P+R) = 125/170
    #         n=2 (3,4,5): P 3/4, R 3/5 -> F = 45/72
    #         n=3 (1,2,3): P 1/2, R 1/3 -> F = 15/42
    #         n=4 (0,1,1): F = 0;  n=5, n=6: no n-grams on either side, left out.
    expected = 100 * (125 / 170 + 45 / 72 + 15 / 42 + 0) / 4  # 42.94
    assert corpus_chrf(["ab", "abcd"], ["abc", "abce"]) == pytest.approx(expected)
    sentence_mean = (chrf("ab", "abc") + chrf("abcd", "abce")) / 2  # 55.7: not what corpus chrF reports
    assert abs(expected - sentence_mean) > 10
    assert corpus_chrf(["今天天气很好"], ["今天天气不错"]) == pytest.approx(35.0)
    with pytest.raises(ValueError):
        corpus_chrf(["a"], [])
    with pytest.raises(ValueError):
        corpus_chrf([], [])


def test_chrf_table_per_model_and_split():
    gens = pl.DataFrame({
        "model": ["base", "base", "finetuned", "finetuned"], "split": ["test", "validation", "test", "validation"],
        "prediction": ["xyz", "ab", "abc", "abcd"], "reference": ["abc", "abc", "abc", "abce"],
    })
    t = chrf_table(gens)
    got = {(r["model"], r["split"]): (r["n"], r["chrf"]) for r in t.iter_rows(named=True)}
    assert got[("base", "test")] == (1, 0.0)
    assert got[("finetuned", "test")] == (1, pytest.approx(100.0))
    assert got[("base", "all")] == (2, pytest.approx(corpus_chrf(["xyz", "ab"], ["abc", "abc"])))
    assert len(got) == 6
    assert chrf_table(gens.clear()).is_empty()


def test_prompt_excludes_the_answer():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"}]
    prompt, ref = prompt_and_reference(msgs)
    assert ref == "4" and prompt == msgs[:4]
    assert prompt_and_reference(msgs[:2]) == (msgs[:2], "")


# ------------------------------------------------------------------------------------ loss curve and HTML
def test_plot_loss_curve_writes_a_small_png(tmp_path):
    history = pl.DataFrame({"step": [0, 1, 2, 3, 4], "train_loss": [None, 3.0, 2.5, 2.2, 2.0],
                            "val_loss": [3.2, None, 2.6, None, 2.1], "lr": [0.0] * 5, "tokens_per_s": [None, 1.0, 1.0, 1.0, 1.0]},
                           schema_overrides={"train_loss": pl.Float64, "val_loss": pl.Float64, "tokens_per_s": pl.Float64})
    path = plot_loss_curve(history, tmp_path / "curve.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) < 60_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (480, 280)  # 6 x 3.5 inches at 80 dpi


MARKDOWN = """# Evaluation report

Base model: **tiny** & friends; fine-tuned
for 8 steps.

## Loss

| split | loss_base | note |
|---|---|---|
| test | 1.2345 | <script>alert(1)</script> |
| validation | 2.0000 | a \\| b |

![loss curve](curve.png)
"""


def test_render_html_tables_escaping_and_embedded_image(tmp_path):
    png = tmp_path / "curve.png"
    png.write_bytes(PNG_MAGIC + b"not really a png")
    page = render_html(MARKDOWN, "Report <1>", {"curve.png": str(png)})
    assert page.startswith("<!DOCTYPE html>") and "<title>Report &lt;1&gt;</title>" in page
    assert "<h1>Evaluation report</h1>" in page and "<h2>Loss</h2>" in page
    # Consecutive text lines form one paragraph; bold survives escaping, the ampersand does not.
    assert "<p>Base model: <strong>tiny</strong> &amp; friends; fine-tuned for 8 steps.</p>" in page
    assert page.count("<table>") == 1 and "<th>loss_base</th>" in page and "<td>1.2345</td>" in page
    assert "---" not in page  # the separator row is not a data row
    assert "<script>" not in page and "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    assert "<td>a | b</td>" in page  # an escaped pipe stays inside its cell
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    assert f'<img alt="loss curve" src="{uri}">' in page


def test_inline_images_leaves_unknown_references(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(PNG_MAGIC)
    md = inline_images("![a](a.png)\n\n![b](b.png)", {"a.png": str(png)})
    assert md.startswith("![a](data:image/png;base64,") and md.endswith("![b](b.png)")


# ---------------------------------------------------------------------------- the asset, on the tiny model
def test_eval_report_writes_html_png_and_chrf(tiny_graph_run):
    result, root = tiny_graph_run
    assert result.success
    mat = next(e.event_specific_data.materialization for e in result.get_asset_materialization_events()
               if e.event_specific_data.materialization.asset_key == dg.AssetKey("eval_report"))
    md = mat.metadata
    html_path, png_path = md["report_html_path"].value, md["loss_curve_path"].value
    # The report, its picture and its tables are one published version; published/eval_report is the live one.
    report_dir = (root / "published" / "eval_report").resolve()
    assert html_path == str(report_dir / "eval_report.html") and png_path == str(report_dir / "loss_curve.png")
    png = (root / "published" / "eval_report" / "loss_curve.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    page = (root / "published" / "eval_report" / "eval_report.html").read_text(encoding="utf-8")
    assert "<table>" in page and "<h2>chrF on open-ended tasks</h2>" in page
    assert base64.b64encode(png).decode() in page
    # The Markdown file points at the PNG beside it; the metadata copy carries the image inline for the UI.
    assert "![loss curve](loss_curve.png)" in (root / "published" / "eval_report" / "eval_report.md").read_text(encoding="utf-8")
    assert "![loss curve](data:image/png;base64," in md["report"].value
    assert md["chrf_items"].value == 6
    for model in ("base", "finetuned"):
        assert 0.0 <= md[f"chrf_{model}"].value <= 100.0
    gens = pl.read_parquet(root / "published" / "eval_report" / "eval_open_ended.parquet")
    assert gens.height == 12 and gens.group_by("model", "split").len()["len"].to_list() == [3] * 4
    assert gens["reference"].str.len_chars().min() > 0


def test_exact_match_is_case_sensitive_only_for_upper_casing():
    from instr_assets.core.evaluate.evaluation import score_exact_match

    preds = ["hello", "HELLO", "HELLO\nThat is the word in capitals.", "monday"]
    refs = ["HELLO", "HELLO", "HELLO", "Monday"]
    kinds = ["string_manipulation", "string_manipulation", "string_manipulation", "date_arithmetic"]
    assert score_exact_match(preds, refs, kinds) == [False, True, True, True]
