"""The command line (scripts/run_pipeline.sh and instr_assets/cli.py) and the Dagster conventions around it: `dg
check defs`, the output root through dg.EnvVar, progress lines in the run's log, and the error for data too small
to split."""
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from instr_assets import cli
from instr_assets.core import progress
from instr_assets.core.stratify.split import SplitRules, min_groups_for_all_splits, short_splits_message

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "instr_assets" / "data" / "examples" / "my_pairs.jsonl"


# --- the script, before any setup --------------------------------------------------------------------------------

@pytest.fixture
def bare_clone(tmp_path) -> Path:
    """What a fresh clone holds of the script and the flag parser, and nothing else: no .venv, no output."""
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    for script in (REPO_ROOT / "scripts").glob("*.sh"):
        shutil.copy2(script, clone / "scripts" / script.name)
    (clone / "instr_assets").mkdir()
    for module in ("__init__.py", "cli.py"):
        shutil.copy2(REPO_ROOT / "instr_assets" / module, clone / "instr_assets" / module)
    return clone


def _run_script(clone: Path, cwd: Path, *flags: str) -> tuple[subprocess.CompletedProcess, float]:
    # The system Python, as on a fresh machine; PYTHON points at this one only so that the test does not depend
    # on a `python3` on PATH.
    env = dict(os.environ, PYTHON=sys.executable, PYTHONDONTWRITEBYTECODE="1")
    t0 = time.monotonic()
    done = subprocess.run(["bash", str(clone / "scripts" / "run_pipeline.sh"), *flags], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    return done, time.monotonic() - t0


def _files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_sets_nothing_up(bare_clone, tmp_path, flag):
    before = _files_under(bare_clone)
    done, seconds = _run_script(bare_clone, tmp_path, flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: scripts/run_pipeline.sh")
    for option in ("--tiny", "--sources FILE", "--config FILE", "--model ID_OR_PATH"):
        assert option in done.stdout
    # No setup ran: it would have created .venv (and a run, output/ and .dagster/), which takes minutes.
    assert _files_under(bare_clone) == before and list(tmp_path.iterdir()) == [bare_clone]
    assert not (bare_clone / ".venv").exists() and seconds < 30


@pytest.mark.parametrize("flags, named", [(["--tiney"], "--tiney"), (["--tiny", "--modle", "x"], "--modle"),
                                          (["--tin"], "--tin"), (["--sources", "missing.yaml"], "missing.yaml")])
def test_bad_flags_are_refused_before_setup(bare_clone, tmp_path, flags, named):
    done, seconds = _run_script(bare_clone, tmp_path, *flags)
    assert done.returncode == 2
    assert named in done.stderr and "usage: scripts/run_pipeline.sh" in done.stderr
    assert not (bare_clone / ".venv").exists() and not (bare_clone / "output").exists() and seconds < 30
    assert list(tmp_path.iterdir()) == [bare_clone]  # nothing written where it was run either


# --- flags to run config ---------------------------------------------------------------------------------------

def test_flags_resolve_paths_against_the_callers_folder(tmp_path):
    (tmp_path / "my_sources.yaml").write_text("sources: []\n", encoding="utf-8")
    (tmp_path / "run.yaml").write_text("{}\n", encoding="utf-8")
    (tmp_path / "my_model").mkdir()
    flags = cli.parse_flags(["--tiny", "--sources", "my_sources.yaml", "--config", "run.yaml", "--model", "my_model"],
                            tmp_path)
    assert flags.tiny and cli.job_name(flags) == "instruction_pipeline_tiny"
    assert flags.sources == str(tmp_path / "my_sources.yaml") and flags.config == str(tmp_path / "run.yaml")
    assert flags.model == str(tmp_path / "my_model")
    # Not a folder here: a model name or Hugging Face id, passed on as written.
    assert cli.parse_flags(["--model", "HuggingFaceTB/SmolLM2-135M-Instruct"], tmp_path).model == \
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert cli.job_name(cli.parse_flags([], tmp_path)) == "instruction_pipeline"


def test_missing_config_file_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parse_flags(["--config", "nope.yaml"], tmp_path)
    assert exit_.value.code == 2
    assert f"--config nope.yaml: no such file ({tmp_path / 'nope.yaml'})" in capsys.readouterr().err


def test_flags_override_the_config_file_which_overrides_the_job_defaults(tmp_path):
    sources = tmp_path / "s.yaml"
    sources.write_text("sources: []\n", encoding="utf-8")
    flags = cli.parse_flags(["--tiny", "--sources", "s.yaml", "--model", "tiny"], tmp_path)
    job_defaults = {"ops": {"finetuned_checkpoint": {"config": {"base_model": "tiny", "max_steps": 20, "lr": 0.001}}}}
    file_config = {"ops": {"finetuned_checkpoint": {"config": {"base_model": "smollm2", "max_steps": 5}},
                           "raw_sources": {"config": {"sources_file": "/elsewhere.yaml"}},
                           "stratified_splits": {"config": {"seed": 3}}}}
    config = cli.build_run_config(flags, job_defaults, file_config)
    assert config == {"ops": {
        # The job's lr survives a file and a flag that name the same op; max_steps comes from the file.
        "finetuned_checkpoint": {"config": {"base_model": "tiny", "max_steps": 5, "lr": 0.001}},
        "raw_sources": {"config": {"sources_file": str(sources)}},
        "stratified_splits": {"config": {"seed": 3}},
        "tokenized_shards": {"config": {"base_model": "tiny"}}}}
    assert cli.build_run_config(cli.parse_flags([], tmp_path), {}, {}) == {}


@pytest.mark.parametrize("text, error", [("- a\n- b\n", "expected a mapping"), ("ops: [unclosed\n", "not valid YAML")])
def test_config_file_that_is_no_run_config_is_named(tmp_path, text, error):
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit, match=re.escape(f"--config {path}: {error}")):
        cli.read_config_file(str(path))


def test_plan_writes_the_run_config_dg_launch_reads(tmp_path):
    (tmp_path / "my_sources.yaml").write_text("sources: []\n", encoding="utf-8")
    out = tmp_path / "run_config.json"
    job = cli.plan(tmp_path, out, ["--tiny", "--sources", "my_sources.yaml", "--model", "tiny"])
    assert job == "instruction_pipeline_tiny"
    config = json.loads(out.read_text(encoding="utf-8"))
    assert config["ops"]["raw_sources"] == {"config": {"sources_file": str(tmp_path / "my_sources.yaml")}}
    # The tiny job's own training settings stay with a model named on the command line.
    assert config["ops"]["finetuned_checkpoint"]["config"]["base_model"] == "tiny"
    assert config["ops"]["tokenized_shards"]["config"]["base_model"] == "tiny"
    assert config["ops"]["finetuned_checkpoint"]["config"]["max_steps"] == 20
    # And Dagster takes it for that job (this raises on a config the job does not accept).
    from dagster._core.system_config.objects import ResolvedRunConfig

    from instr_assets.definitions import defs
    resolved = ResolvedRunConfig.build(defs.resolve_job_def(job), config)
    assert resolved.ops["raw_sources"].config["sources_file"] == str(tmp_path / "my_sources.yaml")


# --- dg ----------------------------------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_dg_check_defs_loads_the_project_without_warnings():
    dg_bin = Path(sys.executable).parent / "dg"
    if not dg_bin.exists():
        pytest.skip("dagster-dg-cli is not installed in this environment")
    env = dict(os.environ, VIRTUAL_ENV=str(Path(sys.executable).parent.parent), DAGSTER_HOME=str(REPO_ROOT))
    done = subprocess.run([str(dg_bin), "check", "defs"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=280)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "All definitions loaded successfully" in output
    assert "Warning" not in output and "superseded" not in output.lower(), output[-3000:]


# --- progress lines ----------------------------------------------------------------------------------------------

def test_progress_line_counts_and_estimates():
    assert progress.progress_line("cleaned_pairs", 0, 500, "pairs", 0.2) == "cleaned_pairs: 0/500 pairs (0%), 0 s so far"
    assert progress.progress_line("cleaned_pairs", 100, 500, "pairs", 10.0) == \
        "cleaned_pairs: 100/500 pairs (20%), 10 s so far, about 40 s left"
    assert progress.progress_line("raw_sources", 7, 7, "sources", 3.25) == "raw_sources: 7/7 sources done in 3.2 s"


def test_progress_logs_at_start_at_most_every_interval_and_at_the_end(monkeypatch, caplog):
    now = [0.0]
    monkeypatch.setattr(progress, "EVERY_SECONDS", 10.0)
    log = logging.getLogger("instr_assets.test_progress")
    with caplog.at_level(logging.INFO, logger=log.name):
        p = progress.Progress(log, "stage", 4, "items", clock=lambda: now[0])
        for t in (3.0, 11.0, 15.0, 16.0):
            now[0] = t
            p.advance()
    assert [r.getMessage() for r in caplog.records] == [
        "stage: 0/4 items (0%), 0 s so far", "stage: 2/4 items (50%), 11 s so far, about 11 s left",
        "stage: 4/4 items done in 16.0 s"]


def _sources_file(tmp_path: Path, lines: int) -> Path:
    data = tmp_path / "my_pairs.jsonl"
    data.write_text("".join(EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:lines]), encoding="utf-8")
    sources = tmp_path / "my_sources.yaml"
    sources.write_text("sources:\n  - name: my_pairs\n    format: alpaca\n    path: my_pairs.jsonl\n", encoding="utf-8")
    return sources


def _project_instance() -> dg.DagsterInstance:
    """An ephemeral instance with the project's dagster.yaml log settings."""
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    return dg.DagsterInstance.ephemeral(settings={"python_logs": settings["python_logs"]})


@pytest.mark.timeout(600)
def test_data_stages_log_progress_to_the_run_and_write_under_the_env_output(tmp_path, monkeypatch):
    from instr_assets.definitions import defs

    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)  # every item: the intermediate lines with an estimate
    monkeypatch.setenv("INSTR_ASSETS_OUTPUT", str(tmp_path / "out"))
    stages = ["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs", "stratified_splits",
              "tokenized_shards"]
    with _project_instance() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(s) for s in stages],
            run_config={"ops": {"raw_sources": {"config": {"sources_file": str(_sources_file(tmp_path, 30))}}}})
        assert result.success
        lines = [e.user_message for e in instance.all_logs(result.run_id) if e.dagster_event is None]
    # The output root came from INSTR_ASSETS_OUTPUT through dg.EnvVar, when the run started.
    assert (tmp_path / "out" / "published" / "raw_sources").is_dir()
    assert "raw_sources: 0/1 sources read (0%), 0 s so far" in lines
    assert "raw_sources: 1/1 sources read done in" in "\n".join(lines)
    assert any(re.fullmatch(r"cleaned_pairs: 30/30 pairs through the row filters done in [\d.]+ s", x) for x in lines)
    train = [x for x in lines if x.startswith("tokenized_shards (train): ")]
    assert any(re.search(r"\d+/\d+ pairs tokenized \(\d+%\), \d+ s so far, about \d+ s left$", x) for x in train)
    assert re.search(r"\d+/\d+ pairs tokenized done in", train[-1])


# --- data too small to split -------------------------------------------------------------------------------------

def test_minimum_groups_follow_the_split_fractions():
    assert min_groups_for_all_splits(SplitRules()) == 4  # positions 0 and 1 validation, 2 test, 3 train
    assert min_groups_for_all_splits(SplitRules(validation_fraction=0.3, test_fraction=0.3)) == 8
    assert min_groups_for_all_splits(SplitRules(validation_fraction=0.0001)) is None
    assert short_splits_message({"train": 5, "validation": 1, "test": 1}, 7, 7, SplitRules(), 1) is None
    message = short_splits_message({"train": 9, "validation": 2, "test": 1}, 12, 12, SplitRules(), 2)
    assert "test has 1" in message and "min_pairs_per_split is 2" in message


@pytest.mark.timeout(600)
def test_three_pairs_fail_the_split_saying_why_and_what_to_do(tmp_path):
    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    result = dg.materialize(
        ALL_ASSETS[:5], resources={"data_store": DataStoreResource(root=str(tmp_path / "out"))},
        run_config={"ops": {"raw_sources": {"config": {"sources_file": str(_sources_file(tmp_path, 3))}}}},
        raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "stratified_splits"
    message = failure.event_specific_data.error.message
    assert re.search(r"\b[3-4] pairs in 3 groups .* are too few for a train/validation/test split", message), message
    assert "train has 0" in message and "at least 4 groups" in message and "add pairs to the sources" in message
