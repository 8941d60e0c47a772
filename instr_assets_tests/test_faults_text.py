"""Text hygiene: invisible characters that reorder or hide text are removed the same way everywhere, a joiner
inside an emoji sequence stays, escaped markup in the data never becomes live markup in cleaning, and markup in
the data is escaped in every report format (Markdown tables, the Markdown report, its HTML page)."""
import html

import polars as pl
import pytest

from instr_assets.core.clean.cleaning import clean_pairs
from instr_assets.core.evaluate.evaluation import METRIC_SCHEMA, render_html, render_report
from instr_assets.core.text import is_no_input, markdown_table, normalize_series, normalize_text, unescape_entities
from instr_assets_tests.test_clean_augment_split import unify_alpaca

# Bidirectional embeddings, overrides, isolates and marks, the Arabic letter mark, the word joiner.
INVISIBLE = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
             "\u200e", "\u200f", "\u061c", "\u2060"]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_bidi_controls_and_word_joiner_are_removed(char):
    assert normalize_text(f"access{char} granted") == "access granted"
    # The same in a batch where the other texts are tidy (the fast path must not skip it).
    out = normalize_series(pl.Series(["tidy text", f"x = 1{char}", "more tidy text"])).to_list()
    assert out == ["tidy text", "x = 1", "more tidy text"]


def test_trojan_source_line_reads_in_logical_order():
    # An override makes the comment look as if it ends before `return`; removed, the line reads as stored.
    line = 'if is_admin: \u202e } \u2066// check later\u2069 \u2066return True'
    assert normalize_text(line) == "if is_admin: } // check later return True"


@pytest.mark.parametrize("text", [
    "\U0001F468\u200d\U0001F469\u200d\U0001F467",      # family: three pictographs, two joiners
    "I \u2764\ufe0f\u200d\U0001F525 it",               # heart on fire: variation selector before the joiner
    "\U0001F3F3\ufe0f\u200d\U0001F308 flag",           # rainbow flag
    "\U0001F469\U0001F3FD\u200d\U0001F4BB coder",      # woman technologist, with a skin tone
])
def test_zero_width_joiner_is_kept_inside_emoji_sequences(text):
    assert normalize_text(text) == text


@pytest.mark.parametrize("raw, expected", [
    ("zero\u200dwidth", "zerowidth"),                  # between letters
    ("\u200d\U0001F600 start", "\U0001F600 start"),   # before an emoji, after nothing
    ("end \U0001F600\u200d", "end \U0001F600"),       # after an emoji, before nothing
    ("\U0001F600\u200da", "\U0001F600a"),              # emoji then a letter
    ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u0937"),  # Devanagari: removed like every joiner outside emoji
])
def test_zero_width_joiner_is_removed_elsewhere(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("&#60;img src=x onerror=alert(1)&#62;", "&#60;img src=x onerror=alert(1)&#62;"),
    ("&lt;!-- hidden --&gt;", "&lt;!-- hidden --&gt;"),
    ("&lt;&#115;cript&gt;", "&lt;script&gt;"),        # the tag name itself written with an entity
    ("&amp;lt;b&amp;gt;", "&lt;b&gt;"),               # double escaped: one level decoded, still no tag
    # Entities that do not open markup are decoded as before.
    ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2"),
    ("a &lt;= b", "a <= b"),
    ("caf&eacute; &copy; 2024 &nbsp;x", "café © 2024 x"),
    ("&lt;无输入&gt;", "<无输入>"),
])
def test_escaped_markup_is_not_decoded_into_a_live_tag(raw, expected):
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected  # normalizing again changes nothing


def test_unescape_entities_decodes_what_html_unescape_does_outside_markup():
    text = "&quot;x&quot; &#x41;&#66; &notin; &notanentity; &amp; &gt; R&D &lt; 3 &#60;= 4 &unknown;"
    assert unescape_entities(text) == html.unescape(text)


def test_escaped_no_input_markers_still_mean_no_input():
    assert is_no_input("&lt;noinput&gt;") and is_no_input("&lt;no input&gt;")


def test_cleaning_keeps_escaped_markup_escaped_and_removes_bidi_controls(tmp_path):
    records = [
        {"instruction": "How do I make text bold in HTML?", "input": "",
         "output": "Wrap it in a b element: &lt;b&gt;bold&lt;/b&gt; shows as bold text in a browser."},
        {"instruction": "Which one is larger, 3 or 5?", "input": "",
         "output": "5 is larger, since 3 &lt; 5.\u202e Remember this simple rule about numbers.\u202c"},
        {"instruction": "Describe this emoji: \U0001F469\u200d\U0001F4BB", "input": "",
         "output": "It shows a woman working at a laptop, the technologist emoji."},
    ]
    cleaned, _ = clean_pairs(unify_alpaca(tmp_path, records))
    by_instruction = dict(zip(cleaned["instruction"].to_list(), cleaned["response"].to_list()))
    assert by_instruction["How do I make text bold in HTML?"] == (
        "Wrap it in a b element: &lt;b&gt;bold&lt;/b&gt; shows as bold text in a browser.")
    assert by_instruction["Which one is larger, 3 or 5?"] == (
        "5 is larger, since 3 < 5. Remember this simple rule about numbers.")
    assert "Describe this emoji: \U0001F469\u200d\U0001F4BB" in by_instruction
    assert not any(c in text for text in cleaned["text"].to_list() for c in INVISIBLE)


# --- reports ---------------------------------------------------------------------------------------------------

def test_markdown_tables_escape_markup_in_data():
    df = pl.DataFrame({"prompt": ['<script>alert("x")</script>', "<img src=x onerror=alert(1)>", "a | b & c"]})
    table = markdown_table(df)
    assert "<script" not in table and "<img" not in table
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in table
    assert "a \\| b &amp; c" in table  # pipes still escaped for the table, the ampersand for HTML


def _report_with_samples(samples: pl.DataFrame) -> str:
    metrics = pl.DataFrame([{"model": m, "split": s, "facet": "overall", "value": "all", "n_samples": 2,
                             "n_tokens": 10, "loss": 1.0, "perplexity": 2.7}
                            for m in ("base", "finetuned") for s in ("validation", "test")], schema=METRIC_SCHEMA)
    training = {"max_steps": 8, "best_step": 4, "best_val_loss": 1.0}
    return render_report(metrics, pl.DataFrame(), pl.DataFrame(), samples, training, "tiny")


def test_eval_report_markdown_and_html_show_data_markup_as_text():
    samples = pl.DataFrame({"prompt": ["Say <b>hi</b>", "&lt;script&gt;alert(2)&lt;/script&gt;"],
                            "prediction": ["<script>alert(1)</script>", "<iframe src=//evil>"],
                            "reference": ["hi", "no"]})
    report = _report_with_samples(samples)
    for live in ("<script", "<iframe", "<b>"):
        assert live not in report, live
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    # The data's own entities are shown as written, not decoded one level by the report.
    assert "&amp;lt;script&amp;gt;alert(2)" in report

    page = render_html(report, "Evaluation report: tiny", {})
    for live in ("<script", "<iframe", "<b>"):
        assert live not in page, live
    # Escaped once in the page: a browser shows the characters the data holds.
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    assert "<td>&amp;lt;script&amp;gt;alert(2)&amp;lt;/script&amp;gt;</td>" in page
    assert "&amp;amp;" not in page
