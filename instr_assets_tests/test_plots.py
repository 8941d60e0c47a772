"""Charts in materialization metadata: the pure PNG functions, the metadata entries the assets write, and the
images as the Dagster UI shows them (headless Chromium, driven over the DevTools protocol to open the
"Show Markdown" dialog, where the UI renders Markdown images)."""
import base64
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import time
import warnings
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core import plots
from instr_assets.defs.metadata import image
from instr_assets_tests.webserver_harness import LOCATION, REPOSITORY, DagsterDevServer, find_chromium, skip_or_fail

MAX_IMAGE_BYTES = 60_000
DATA_STAGES = ["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs", "stratified_splits"]
IMAGES = {"cleaned_pairs": "length_histograms", "stratified_splits": "stratum_balance",
          "finetuned_checkpoint": "loss_curve_plot"}


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == plots.PNG_SIGNATURE, png[:16]
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def png_from_markdown(md: str) -> bytes:
    m = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md.strip())
    assert m, md[:200]
    return base64.b64decode(m[1], validate=True)


def _pairs(n: int, scale: int = 1, langs=("en", "zh")) -> pl.DataFrame:
    rows = []
    for i in range(n):
        lang = langs[i % len(langs)]
        if lang == "zh":  # Chinese text in the data; the labels stay ASCII
            rows.append((lang, "请解释" + "光合作用" * (1 + i % 5), "植物利用光能" * scale * (1 + i % 7)))
        else:
            rows.append((lang, "Explain " + "photosynthesis " * (1 + i % 5), "plants use light " * scale * (1 + i % 7)))
    return pl.DataFrame(rows, schema=["lang", "instruction", "response"], orient="row")


def _strata(n_groups: int, cap: int | None = None) -> pl.DataFrame:
    strata = ["science/open_qa/easy", "programming/coding/medium", "math_reasoning/calculation/hard", "general/open_qa/easy"]
    rows = [(strata[min(i % 7, 3)], f"g{i}") for i in range(n_groups)]
    df = pl.DataFrame(rows, schema=["stratum", "group_id"], orient="row")
    if cap is not None:
        df = df.filter(pl.int_range(pl.len()).over("stratum") < cap)
    return df


def _no_glyph_warnings(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    glyphs = [str(w.message) for w in caught if "glyph" in str(w.message).lower()]
    assert glyphs == [], glyphs[:3]
    return out


# --- the pure functions -----------------------------------------------------------------------------------

def test_length_histograms_png():
    png = _no_glyph_warnings(plots.length_histograms, _pairs(60))
    assert png_size(png) == (576, 230)  # 8 x 3.2 inches at 72 dpi
    assert 5_000 < len(png) < MAX_IMAGE_BYTES
    assert plots.length_histograms(_pairs(60)) == png  # deterministic: same data, same bytes
    assert plots.length_histograms(_pairs(60, scale=3)) != png  # longer responses, another chart
    assert plots.length_histograms(_pairs(60, langs=("en",))) != png


def test_length_units_follow_the_filter():
    df = pl.DataFrame({"lang": ["zh", "en", "other"], "response": ["植物 利用光能", "plants  use light", "a b"]})
    assert plots.text_lengths(df, "response").to_list() == [6, 3, 2]  # zh: non-space characters; else words


def test_non_ascii_language_codes_do_not_flood_glyph_warnings():
    df = _pairs(30).with_columns(pl.when(pl.col("lang") == "zh").then(pl.lit("中文")).otherwise("lang").alias("lang"))
    png = _no_glyph_warnings(plots.length_histograms, df)
    assert png_size(png) == (576, 230)


def test_stratum_balance_png():
    before = _strata(200)
    png = _no_glyph_warnings(plots.stratum_balance, before, _strata(200, cap=30), 30)
    assert png_size(png) == (576, 244)
    assert 5_000 < len(png) < MAX_IMAGE_BYTES
    assert plots.stratum_balance(before, _strata(200, cap=30), 30) == png
    assert plots.stratum_balance(before, _strata(200, cap=10), 10) != png  # a tighter cap shows
    assert plots.stratum_balance(before, before, None) != png


def test_charts_of_empty_frames():
    empty = _pairs(0)
    assert png_size(plots.length_histograms(empty)) == (576, 230)
    no_strata = pl.DataFrame(schema={"stratum": pl.Utf8, "group_id": pl.Utf8})
    assert png_size(plots.stratum_balance(no_strata, no_strata, 5)) == (576, 244)


def test_image_metadata_round_trip():
    png = plots.length_histograms(_pairs(10))
    md = image(png, "lengths")
    assert md.md_str.startswith("![lengths](data:image/png;base64,")
    assert png_from_markdown(md.md_str) == png
    with pytest.raises(ValueError):
        image(b"GIF89a", "not a png")


# --- the assets' metadata, through a dagster dev server, and the images in the UI -------------------------

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

LATEST_METADATA = """
query($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetMaterializations(limit: 1) { runId metadataEntries { __typename label ... on MarkdownMetadataEntry { mdStr } } }
    }
  }
}"""


@pytest.fixture(scope="module")
def ui_run(tmp_path_factory):
    """dagster dev on a temporary instance; one run of the first seven assets (tiny model, two steps),
    launched the way the UI's Materialize button does: the implicit asset job with an asset selection."""
    root = tmp_path_factory.mktemp("plots_ui")
    srv = DagsterDevServer(home=root / "dagster_home", output_dir=root / "output")
    srv.start()
    try:
        srv.wait_ready(timeout=180)
        srv.graphql("mutation { setNuxSeen }")
        keys = DATA_STAGES + ["tokenized_shards", "finetuned_checkpoint"]
        params = {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": "__ASSET_JOB",
                         "assetSelection": [{"path": [k]} for k in keys]},
            "runConfigData": {"execution": {"config": {"in_process": {}}}, "ops": {"finetuned_checkpoint": {"config": {
                "base_model": "tiny", "max_steps": 2, "eval_every": 1, "lr": 1e-3}}}},
        }
        launched = srv.graphql(LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run = srv.wait_for_run(launched["run"]["runId"], timeout=400)
        assert run["status"] == "SUCCESS", (run, srv.log_tail())
        yield srv, run
    finally:
        srv.stop()


def _latest_png(srv, asset: str, label: str, run_id: str | None = None) -> bytes:
    node = srv.graphql(LATEST_METADATA, {"key": {"path": [asset]}})["assetNodeOrError"]
    mat = node["assetMaterializations"][0]
    assert run_id is None or mat["runId"] == run_id
    entries = {e["label"]: e for e in mat["metadataEntries"]}
    assert entries[label]["__typename"] == "MarkdownMetadataEntry", entries.get(label)
    return png_from_markdown(entries[label]["mdStr"])


def test_assets_carry_small_png_charts(ui_run):
    srv, run = ui_run
    sizes = {}
    for asset, label in IMAGES.items():
        png = _latest_png(srv, asset, label, run["runId"])
        width, height = png_size(png)
        assert 300 <= width <= 800 and 150 <= height <= 400, (asset, width, height)
        assert len(png) < MAX_IMAGE_BYTES, (asset, len(png))
        sizes[f"{asset}.{label}"] = len(png)
    print("chart sizes (bytes):", sizes)
    # finetuned_checkpoint's chart is the one eval_report puts in its report (same function, same file).
    assert (srv.output_dir / "published" / "finetuned_checkpoint" / "loss_curve.png").exists()


# --- headless Chromium over the DevTools pipe -------------------------------------------------------------

class DevToolsBrowser:
    """Headless Chromium driven through --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-separated JSON):
    the standard library can click a button this way, which --dump-dom cannot."""

    def __init__(self, binary: str, profile: Path):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def wire_fds():  # in the child: the pipe ends become fds 3 and 4, inheritable
            a = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--window-size=1400,1000", f"--user-data-dir={profile}",
               "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(cmd, preexec_fn=wire_fds, close_fds=False, start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self._out, self._in, self._buf, self._id = to_w, from_r, b"", 0

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}} | ({"sessionId": session} if session else {})
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buf:
                ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise TimeoutError(f"no answer to {method} in {timeout}s")
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
            raw, _, self._buf = self._buf.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") == self._id:  # events and other replies are not needed here
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> str:
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        return self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, session: str, expression: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(session, expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression[:120]} still false after {timeout}s")
            time.sleep(0.5)

    def screenshot(self, session: str, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, session)["data"]))
        return path

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        os.close(self._out)
        os.close(self._in)


# Click "[Show Markdown]" in the metadata row whose label is `label`; true once clicked.
_CLICK_SHOW_MARKDOWN = """(() => {
  const label = %s;
  const leaves = [...document.querySelectorAll('body *')].filter(e => e.children.length === 0);
  for (const cell of leaves.filter(e => e.textContent.trim() === label)) {
    for (let row = cell.parentElement; row && row !== document.body; row = row.parentElement) {
      const show = [...row.querySelectorAll('*')].find(e => e.children.length === 0 && e.textContent.trim() === '[Show Markdown]');
      if (show) { (show.closest('button, a, [role=button]') || show).click(); return true; }
      if (row.tagName === 'TR') break;
    }
  }
  return false;
})()"""
# The decoded PNG images on the page (naturalWidth is 0 for an image the browser could not decode).
_IMAGES_SHOWN = """[...document.querySelectorAll('img')].filter(i => i.src.startsWith('data:image/png'))
  .map(i => ({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight, complete: i.complete}))
  .filter(i => i.complete && i.width > 0)"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        skip_or_fail("headless Chromium (the Debian chromium package) is needed to look at the UI")
    profile = tmp_path_factory.mktemp("chromium_profile")
    b = DevToolsBrowser(binary, profile)
    try:
        yield b
    finally:
        b.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("asset", list(IMAGES))
def test_ui_shows_the_chart_on_the_asset_page(ui_run, browser, asset, tmp_path):
    srv, _ = ui_run
    label = IMAGES[asset]
    session = browser.open(f"{srv.url}/assets/{asset}")
    browser.wait_for(session, f"document.body && document.body.innerText.includes({json.dumps(label)}) "
                              f"&& document.body.innerText.includes('[Show Markdown]')", timeout=90)
    assert browser.evaluate(session, _IMAGES_SHOWN) == []  # collapsed until asked for
    assert browser.evaluate(session, _CLICK_SHOW_MARKDOWN % json.dumps(label)), f"no [Show Markdown] for {label}"
    shown = browser.wait_for(session, _IMAGES_SHOWN, timeout=30)
    assert len(shown) == 1, shown
    # The browser decoded the very PNG the materialization holds.
    assert (shown[0]["width"], shown[0]["height"]) == png_size(_latest_png(srv, asset, label)), shown
    keep = os.environ.get("INSTR_ASSETS_SCREENSHOTS")
    shot = browser.screenshot(session, (Path(keep) if keep else tmp_path) / f"{asset}_{label}.png")
    assert png_size(shot.read_bytes())[0] > 0
