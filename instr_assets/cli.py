"""The flags of scripts/run_pipeline.sh, parsed here so that they can be tested.

`python instr_assets/cli.py [FLAGS]` only checks the flags (standard library only, so the script runs this file
with the system Python before any setup): `--help` prints the usage, an unknown flag or a missing file exits 2 naming it.
`python -m instr_assets.cli plan CALLER_DIR CONFIG_OUT [FLAGS]`, run after setup, writes the run config for
`dg launch --config` to CONFIG_OUT and prints the job to launch. Relative paths in the flags are taken from
CALLER_DIR, the folder the user ran the script in (the script itself works from the repository root).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FULL_JOB = "instruction_pipeline"
TINY_JOB = "instruction_pipeline_tiny"
MODEL_STEPS = ("tokenized_shards", "finetuned_checkpoint")  # the steps whose config takes base_model

USAGE_EPILOG = """\
examples:
  scripts/run_pipeline.sh                                  the bundled sources, SmolLM2-135M-Instruct
  scripts/run_pipeline.sh --tiny --sources my_sources.yaml  your own sources, the tiny model (minutes)
  scripts/run_pipeline.sh --model HuggingFaceTB/SmolLM2-360M-Instruct --config run.yaml

The flags are applied on top of --config: --sources sets ops.raw_sources.config.sources_file and --model sets
base_model of tokenized_shards and finetuned_checkpoint (the report takes it from the checkpoint). Outputs land in $INSTR_ASSETS_OUTPUT (default: output/ in the
repository); the run shows in the UI (scripts/ui.sh).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/run_pipeline.sh", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=USAGE_EPILOG,
        description="Set up .venv, then materialize the whole asset graph (raw sources to eval report) and print "
                    "a summary: time and rows per stage, every check, where the report and DuckDB file are.",
        # A prefix of a flag (--tin for --tiny) is refused like any other unknown flag: no guessing.
        allow_abbrev=False)
    parser.add_argument("--tiny", action="store_true",
                        help=f"run {TINY_JOB}: a tiny random model, 20 training steps; a quick look, not a "
                             "meaningful report")
    parser.add_argument("--sources", metavar="FILE",
                        help="sources YAML to read instead of the bundled instr_assets/data/sources.yaml")
    parser.add_argument("--config", metavar="FILE",
                        help="Dagster run config YAML (as in the UI's launchpad), merged under the other flags")
    parser.add_argument("--model", metavar="ID_OR_PATH",
                        help="base model to fine-tune: smollm2 (default), tiny, a Hugging Face id (from the local "
                             "cache: runs are offline) or a local folder of safetensors weights")
    return parser


def parse_flags(argv: list[str], caller_dir: Path) -> argparse.Namespace:
    """The flags, with --sources and --config made absolute against `caller_dir` and checked to be files.
    Exits 2 with a message naming the flag when one is unknown or names no file (argparse's convention)."""
    parser = build_parser()
    flags = parser.parse_args(argv)
    for name in ("sources", "config"):
        value = getattr(flags, name)
        if value is None:
            continue
        path = (caller_dir / value).expanduser().resolve()
        if not path.is_file():
            parser.error(f"--{name} {value}: no such file ({path})")
        setattr(flags, name, str(path))
    if flags.model is not None:
        flags.model = model_reference(flags.model, caller_dir)
    return flags


def model_reference(value: str, caller_dir: Path) -> str:
    """A local folder becomes its absolute path (the run works from another folder); anything else (smollm2,
    tiny, a Hugging Face id) is passed on as written."""
    folder = (caller_dir / value).expanduser()
    return str(folder.resolve()) if folder.is_dir() else value


def job_name(flags: argparse.Namespace) -> str:
    return TINY_JOB if flags.tiny else FULL_JOB


def flags_run_config(flags: argparse.Namespace) -> dict:
    """The run config the flags stand for."""
    ops: dict = {}
    if flags.sources is not None:
        ops["raw_sources"] = {"config": {"sources_file": flags.sources}}
    if flags.model is not None:
        # The shards are encoded with the model's tokenizer, so both steps take it (and the report reads it from
        # the checkpoint's lineage).
        for step in MODEL_STEPS:
            ops[step] = {"config": {"base_model": flags.model}}
    return {"ops": ops} if ops else {}


def merge_config(base: dict, override: dict) -> dict:
    """`override` on top of `base`, key by key through nested mappings; any other value replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_file(path: str) -> dict:
    import yaml  # installed by setup; the flag check before it needs only the standard library

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SystemExit(f"run_pipeline: --config {path}: not valid YAML: {e}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SystemExit(f"run_pipeline: --config {path}: expected a mapping (ops: ..., resources: ...), "
                         f"got {type(loaded).__name__}")
    return loaded


def build_run_config(flags: argparse.Namespace, job_defaults: dict, file_config: dict) -> dict:
    """The job's own defaults (the tiny job's training settings), then the --config file, then the flags.

    Dagster replaces an op's default config as a whole once a run names that op, so the defaults are merged in
    here: `--tiny --model X` still trains for the tiny job's steps and learning rate."""
    return merge_config(merge_config(job_defaults, file_config), flags_run_config(flags))


def plan(caller_dir: Path, config_out: Path, argv: list[str]) -> str:
    """Writes the run config for the flags to `config_out` and returns the job to launch."""
    flags = parse_flags(argv, caller_dir)
    from instr_assets.definitions import defs  # dagster: only here, after setup

    job = job_name(flags)
    job_defaults = dict(defs.resolve_job_def(job).run_config or {})
    file_config = read_config_file(flags.config) if flags.config else {}
    # JSON is YAML: dg launch --config reads it as such.
    config_out.write_text(json.dumps(build_run_config(flags, job_defaults, file_config), indent=2), encoding="utf-8")
    return job


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["plan"]:
        if len(argv) < 3:
            raise SystemExit("usage: python -m instr_assets.cli plan CALLER_DIR CONFIG_OUT [FLAGS]")
        print(plan(Path(argv[1]), Path(argv[2]), argv[3:]))
        return 0
    parse_flags(argv, Path.cwd())
    return 0


if __name__ == "__main__":
    sys.exit(main())
