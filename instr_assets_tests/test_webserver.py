"""The project through its UI server: `dagster dev` from workspace.yaml and dagster.yaml on a temporary instance,
the tiny job launched and checked through the GraphQL API, the UI pages rendered by headless Chromium.

One server and one pipeline run are shared by every test in this module. Screenshots go to a temporary folder;
set INSTR_ASSETS_SCREENSHOTS=<dir> to keep them (docs/screenshots/asset_graph.png was made that way).
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from instr_assets_tests.webserver_harness import (
    PLAIN_CHECKS,
    Chromium,
    DagsterDevServer,
    find_chromium,
    png_size,
    port_is_listening,
    skip_or_fail,
)

pytestmark = pytest.mark.timeout(900)

JOB = "instruction_pipeline_tiny"
STAGES = ["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs", "stratified_splits", "dataset_exports",
          "tokenized_shards", "finetuned_checkpoint", "eval_report"]
GROUPS = {"instruction_data": STAGES[:6], "model": STAGES[6:]}

ASSETS_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    jobNames
    assetMaterializations(limit: 1) {
      runId
      metadataEntries {
        __typename
        label
        ... on IntMetadataEntry { intValue }
        ... on MarkdownMetadataEntry { mdStr }
        ... on PathMetadataEntry { path }
      }
    }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          blocking
          executionForLatestMaterialization {
            runId
            status
            evaluation { success severity metadataEntries { __typename label } }
          }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("webserver")
    srv = DagsterDevServer(home=root / "dagster_home", output_dir=root / "output")
    srv.start()
    try:
        srv.ready_seconds = srv.wait_ready(timeout=120)
        # The instance is brand new, so the UI would open a "Join the Dagster community" dialog over every page.
        srv.graphql("mutation { setNuxSeen }")
        yield srv
    finally:
        srv.stop()
        if srv.needed_sigkill:
            print(f"dagster dev needed SIGKILL; log tail:\n{srv.log_tail()}")


@pytest.fixture(scope="module")
def pipeline_run(server):
    t0 = time.monotonic()
    run_id = server.launch_job(JOB)
    run = server.wait_for_run(run_id, timeout=600)
    run["wall_seconds"] = time.monotonic() - t0
    return run


@pytest.fixture(scope="module")
def assets(server, pipeline_run):
    nodes = server.graphql(ASSETS_QUERY)["assetNodes"]
    return {"/".join(n["assetKey"]["path"]): n for n in nodes}


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        skip_or_fail("headless Chromium is needed for the UI tests: install the Debian package "
                     "(apt-get install chromium); scripts/setup.sh and .ci/run do this when run as root")
    return Chromium(binary, tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def _keep(shot: Path) -> None:
    keep = os.environ.get("INSTR_ASSETS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def _assert_screenshot(path: Path, width: int, height: int) -> None:
    assert path.exists(), path
    assert png_size(path) == (width, height)
    assert path.stat().st_size > 10_000, f"{path} is suspiciously small (a blank page?)"


# --- the instance and the run, through the GraphQL API -------------------------------------------------------

def test_server_uses_the_temporary_instance(server):
    assert port_is_listening(server.port)
    info = server.graphql("{ version instance { runQueuingSupported } }")
    assert info["version"]
    assert info["instance"]["runQueuingSupported"] is True  # dagster.yaml's run queue is in effect
    # dagster.yaml's relative folders resolved under the temporary DAGSTER_HOME, not in the repository.
    assert (server.home / ".dagster" / "storage").is_dir()


def test_full_job_succeeds_through_graphql(server, pipeline_run):
    assert pipeline_run["status"] == "SUCCESS", server.log_tail()
    steps = {s["stepKey"]: s["status"] for s in pipeline_run["stepStats"]}
    assert steps == dict.fromkeys(STAGES, "SUCCESS")
    print(f"{JOB}: {pipeline_run['wall_seconds']:.0f}s from launchRun to SUCCESS "
          f"(server ready in {server.ready_seconds:.0f}s)")
    # INSTR_ASSETS_OUTPUT reached the run worker: the outputs are in the temporary folder.
    assert (server.output_dir / "instr_assets.duckdb").exists()
    assert (server.output_dir / "published" / "eval_report" / "eval_report.md").exists()


def test_all_eight_assets_materialized_with_metadata(assets, pipeline_run):
    assert set(STAGES) <= set(assets)
    for name in STAGES:
        node = assets[name]
        assert JOB in node["jobNames"]
        assert node["groupName"] == next(g for g, members in GROUPS.items() if name in members)
        mats = node["assetMaterializations"]
        assert mats, f"{name} has no materialization"
        assert mats[0]["runId"] == pipeline_run["runId"]
        entries = {e["label"]: e for e in mats[0]["metadataEntries"]}
        assert entries, f"{name} materialized without metadata"
        row_count = entries["dagster/row_count"]
        assert row_count["__typename"] == "IntMetadataEntry" and row_count["intValue"] > 0, (name, row_count)
        assert "dagster/column_schema" in entries, name
    report = {e["label"]: e for e in assets["eval_report"]["assetMaterializations"][0]["metadataEntries"]}["report"]
    assert report["__typename"] == "MarkdownMetadataEntry"
    assert report["mdStr"].lstrip().startswith("#") and len(report["mdStr"]) > 200


def test_every_asset_check_passed(assets, pipeline_run):
    executions = []
    for name in STAGES:
        checks_or_error = assets[name]["assetChecksOrError"]
        assert checks_or_error["__typename"] == "AssetChecks", checks_or_error
        for check in checks_or_error["checks"]:
            executions.append((name, check))
    assert len(executions) >= 20
    assert all(check["executionForLatestMaterialization"] for _, check in executions)
    not_passed = [(name, c["name"], c["executionForLatestMaterialization"]["status"])
                  for name, c in executions if c["executionForLatestMaterialization"]["status"] != "SUCCEEDED"]
    assert not_passed == []
    for name, check in executions:
        execution = check["executionForLatestMaterialization"]
        assert execution["runId"] == pipeline_run["runId"]
        evaluation = execution["evaluation"]
        assert evaluation["success"] is True, (name, check["name"])
        labels = {e["label"] for e in evaluation["metadataEntries"]}
        assert labels, f"{name}.{check['name']} has no metadata"
        if check["name"] not in PLAIN_CHECKS:
            assert "evaluated" in labels, (name, check["name"], labels)  # the GX expectations it ran
    blocking = {(n, c["name"]): c["blocking"] for n, c in executions}
    assert blocking[("eval_report", "finetuned_beats_base")] is False  # the one warning-only check
    assert blocking[("cleaned_pairs", "cleaned_accounting")] is True


def _shown(name: str, text: str) -> bool:
    """The asset graph shortens long names in the middle (finetuned_checkpoint -> finetu…_checkpoint)."""
    if re.search(rf"(?<![\w…]){re.escape(name)}(?![\w…])", text):
        return True
    return any(re.search(rf"(?<![\w…]){re.escape(name[:i])}…{re.escape(name[j:])}(?![\w…])", text)
               for i in range(3, len(name)) for j in range(i + 1, len(name) - 2))


# --- the UI, through headless Chromium -----------------------------------------------------------------------

def test_asset_graph_page(chromium, server, pipeline_run, shots):
    expanded = ",".join(f"global@global:{g}" for g in GROUPS)
    url = f"{server.url}/asset-groups?expanded={quote(expanded)}"
    text = chromium.page_text(url, expect=["raw_sources", "eval_report"])
    assert "Global asset lineage" in text
    for name in [*GROUPS, *STAGES]:
        assert _shown(name, text), f"{name!r} not on the asset graph page: {text[:1500]}"
    assert "Join the Dagster community" not in text
    shot = chromium.screenshot(url, shots / "asset_graph.png", window=(1920, 640))
    _assert_screenshot(shot, 1920, 640)
    _keep(shot)


def test_asset_checks_tab(chromium, server, pipeline_run, shots, assets):
    url = f"{server.url}/assets/cleaned_pairs?view=checks"
    check_names = [c["name"] for c in assets["cleaned_pairs"]["assetChecksOrError"]["checks"]]
    assert "cleaned_accounting" in check_names
    text = chromium.page_text(url, expect=check_names + ["Succeeded", "Passed"])
    assert f"Checks ({len(check_names)})" in text
    for name in check_names:
        assert f"{name} Succeeded" in text, f"{name} not shown as Succeeded: {text[:1500]}"
    # The selected check's latest execution: passed, with the GX metadata.
    assert "Evaluation result Passed" in text
    assert "evaluated" in text and "rows_validated" in text
    shot = chromium.screenshot(url, shots / "cleaned_pairs_checks.png")
    _assert_screenshot(shot, 1400, 900)
    _keep(shot)


def test_asset_lineage_tab(chromium, server, pipeline_run, shots, assets):
    url = f"{server.url}/assets/cleaned_pairs?view=lineage&lineageScope=neighbors"
    neighbours = ["unified_pairs", "cleaned_pairs", "augmented_pairs"]
    text = chromium.page_text(url, expect=neighbours + ["Materialized"])
    assert "Lineage" in text and "Nearest Neighbors" in text
    for name in neighbours:
        assert name in text, f"{name} not in the lineage of cleaned_pairs: {text[:1500]}"
    assert text.count("Materialized") >= 3
    # Each node's check summary, as many passed as the asset has checks (the API says how many).
    for name in neighbours:
        n = len(assets[name]["assetChecksOrError"]["checks"])
        assert f"{n} / {n} Passed" in text, f"{name}'s {n} checks not shown as passed: {text[:1500]}"
    shot = chromium.screenshot(url, shots / "cleaned_pairs_lineage.png")
    _assert_screenshot(shot, 1400, 900)
    _keep(shot)


def test_eval_report_page_shows_the_report(chromium, server, pipeline_run):
    text = chromium.page_text(f"{server.url}/assets/eval_report", expect=["report_path", "Show Markdown"])
    assert re.search(r"\breport\b[^\[]{0,60}\[Show Markdown\]", text), "no Markdown `report` metadata shown"
    for shown in ("Latest materialization", "Latest check results", "report_path",
                  "test_loss_finetuned", "Upstream assets finetuned_checkpoint", "Group model"):
        assert shown in text, f"{shown!r} not on the eval_report page: {text[:1500]}"
    # The report was written where INSTR_ASSETS_OUTPUT points, and the page shows that path.
    assert str((server.output_dir / "published" / "eval_report").resolve() / "eval_report.md") in text


# --- last: the server stops cleanly --------------------------------------------------------------------------

def test_server_stops_cleanly(server):
    server.stop()
    assert not server.needed_sigkill, (f"dagster dev did not stop on Ctrl-C; still running:\n{server.left_running}\n"
                                       f"{server.log_tail()}")
    assert not server.group_alive()
    assert not port_is_listening(server.port)
    print(f"dagster dev stopped in {server.stop_seconds:.1f}s")
