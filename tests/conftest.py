"""Shared fixtures: a toy 4-channel dataset and the path of the real sample data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def toy_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from focusgan.data.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy.h5", n=64, resolution=32)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (the project's shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads; on shared cores one thread is several times faster.
    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
