import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The public datasets in ../shared/data; tests using them skip in a user's clone, which has none."""
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is not present (public test data only in the project's own checkouts)")
    return SHARED_DATA
