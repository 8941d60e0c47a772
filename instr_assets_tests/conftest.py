import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# stratified_splits scores difficulty with the tiny model in tests (SmolLM2 takes minutes on a CPU); set before
# the definitions are imported, since the variable is the config field's default.
os.environ.setdefault("INSTR_ASSETS_DIFFICULTY_MODEL", "tiny")
# augmented_pairs' model operators, generation and judge run on the deterministic fake model in tests (the bundled
# GGUF takes minutes a run on a CPU); tests of the real model name it in their config.
os.environ.setdefault("INSTR_ASSETS_AUGMENT_MODEL", "fake")
# The cleaning stage's truncation model (SmolLM2) is off in tests; tests of it switch it on in their rules.
os.environ.setdefault("INSTR_ASSETS_TRUNCATION_MODEL", "off")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The public datasets in ../shared/data; tests using them skip in a user's clone, which has none."""
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is not present (public test data only in the project's own checkouts)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_graph_run(tmp_path_factory):
    """The whole graph materialized once on the tiny model, shared by the graph-level tests."""
    import dagster as dg

    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.evaluate_assets import EvalConfig
    from instr_assets.defs.train_assets import TrainConfig
    from instr_assets.defs.resources import DataStoreResource

    root = tmp_path_factory.mktemp("out")
    result = dg.materialize(
        ALL_ASSETS, resources={"data_store": DataStoreResource(root=str(root))},
        run_config=dg.RunConfig(ops={
            "finetuned_checkpoint": TrainConfig(base_model="tiny", max_steps=8, eval_every=4, lr=2e-3),
            "eval_report": EvalConfig(max_exact_match_items=4, max_chrf_items=6, chrf_max_new_tokens=8,
                                      sample_generations=2, sample_max_new_tokens=8),
        }),
    )
    return result, root
