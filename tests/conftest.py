"""Shared fixtures: generated data sources (COCO format, DAVIS layout, a toy dataset file) and,
as an extra layer, the real samples in ../shared/data.

Tests that take `coco_source` or `davis_source` run on the generated data always and on the real
data when `../shared/data` is present; tests marked `real_data` run only then. Without the real
data those are deselected (counted in pytest's summary, never skipped), so a fresh clone runs the
whole suite on generated data.
"""

from __future__ import annotations

import os
from pathlib import Path

# Tiny models gain nothing from threads, and on a busy 2-core machine two threads each run many
# times slower than one (benchmarks/RESULTS.md): one thread here and in every child process.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from generated import CocoSource, DavisSource, write_coco, write_davis  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL = pytest.param("real", marks=pytest.mark.real_data)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_data: needs ../shared/data (deselected without it)")


def pytest_report_header(config: pytest.Config) -> str:
    if SHARED_DATA.is_dir():
        return f"real data: {SHARED_DATA} (the real-data layer runs)"
    return f"real data: {SHARED_DATA} absent (real-data tests deselected; generated data only)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    keep = [i for i in items if i.get_closest_marker("real_data") is None]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.fixture(scope="session")
def toy_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from focusgan.data.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy.h5", n=64, resolution=32)


@pytest.fixture(scope="session", params=["generated", REAL])
def coco_source(request, tmp_path_factory: pytest.TempPathFactory) -> CocoSource:
    """COCO photos + instances jsons (splits train2017, val2017): generated, or the real tiny COCO."""
    if request.param == "real":
        return CocoSource(SHARED_DATA / "tiny_coco", real=True)
    root = tmp_path_factory.mktemp("coco")
    return write_coco(root, {"train2017": 30, "val2017": 24}, seed=0)


@pytest.fixture(scope="session", params=["generated", REAL])
def davis_source(request, tmp_path_factory: pytest.TempPathFactory) -> DavisSource:
    """DAVIS-layout sequences: two generated ones (45 frames each), or the real eight."""
    if request.param == "real":
        return DavisSource(SHARED_DATA / "davis", real=True)
    return request.getfixturevalue("generated_davis")


@pytest.fixture(scope="session")
def generated_davis(tmp_path_factory: pytest.TempPathFactory) -> DavisSource:
    """The generated DAVIS-layout sequences alone (for tests whose counts are about them)."""
    return write_davis(tmp_path_factory.mktemp("gdavis"), {"seq-grey": 45, "seq-palette": 45})


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real samples; only for tests marked `real_data` (deselected when absent)."""
    assert SHARED_DATA.is_dir(), "mark this test `real_data`"
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads; on shared cores one thread is several times faster.
    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
