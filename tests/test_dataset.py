import h5py
import numpy as np
import pytest
import torch

from focusgan.cli import main
from focusgan.data.dataset import (
    DatasetWriter,
    FocusDataset,
    load_images,
    merge,
    read_info,
    read_metadata,
)
from focusgan.data.summary import FilterSummary
from focusgan.data.toy import toy_images
from focusgan.errors import UserError
from focusgan.prepare.filters import MaskFilter, border_foreground_fraction


def write(path, images, **meta):
    summary = FilterSummary()
    summary.keep(len(images))
    summary.reject("foreground < 0.15", 3)
    summary.skip("unreadable image", 1)
    with DatasetWriter(
        path,
        resolution=images.shape[1],
        channels=images.shape[-1],
        mask_semantics="binary",
        summary=summary,
        extra={"k": 1},
    ) as w:
        w.append(images[:5], **{k: v[:5] for k, v in meta.items()})
        w.append(images[5:], **{k: v[5:] for k, v in meta.items()})
    return path


def test_round_trip_with_metadata_and_attributes(tmp_path):
    images = toy_images(12, 32, seed=1)
    ids = np.arange(12) + 100
    path = write(tmp_path / "d.h5", images, image_id=ids, source=np.array([f"f{i}" for i in ids]))
    info = read_info(path)
    assert (info.size, info.resolution, info.channels, info.mask_semantics) == (12, 32, 4, "binary")
    assert info.filter_summary.to_dict() == {
        "candidates": 15,
        "kept": 12,
        "rejected": {"foreground < 0.15": 3},
        "skipped": {"unreadable image": 1},
    }
    assert info.extra == {"k": 1} and info.command and info.focusgan_version
    np.testing.assert_array_equal(load_images(path), images)
    np.testing.assert_array_equal(load_images(path, 3), images[..., :3])
    np.testing.assert_array_equal(read_metadata(path, "image_id"), ids)
    assert list(read_metadata(path, "source"))[:2] == ["f100", "f101"]
    assert (read_metadata(path, "category_id") == -1).all()
    np.testing.assert_allclose(
        read_metadata(path, "fg_fraction"), (images[..., 3] > 127).mean(axis=(1, 2)), rtol=1e-6
    )
    with h5py.File(path) as f:
        assert f["images"].chunks == (1, 32, 32, 4)


def test_torch_dataset_hands_out_3_or_4_channels(toy_h5):
    ds4, ds3 = FocusDataset(toy_h5), FocusDataset(toy_h5, channels=3)
    assert len(ds4) == 64 and ds4[0].shape == (4, 32, 32) and ds4[0].dtype == torch.uint8
    assert torch.equal(ds3[5], ds4[5][:3])
    batch = next(iter(torch.utils.data.DataLoader(ds3, batch_size=8, num_workers=1)))
    assert batch.shape == (8, 3, 32, 32)


def test_clear_errors(tmp_path):
    not_ours = tmp_path / "other.h5"
    with h5py.File(not_ours, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(UserError, match="not a focusgan dataset"):
        read_info(not_ours)
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(UserError, match="not a focusgan dataset"):
        read_info(tmp_path / "text.h5")
    with pytest.raises(UserError, match="not found"):
        read_info(tmp_path / "missing.h5")
    rgb = write(tmp_path / "rgb.h5", toy_images(4, 32)[..., :3].copy())
    with pytest.raises(UserError, match="has 3 channels"):
        FocusDataset(rgb, channels=4)


def test_interrupted_write_leaves_no_finished_file(tmp_path):
    path = tmp_path / "d.h5"
    with pytest.raises(RuntimeError):
        with DatasetWriter(path, resolution=32, channels=4, mask_semantics="binary") as w:
            w.append(toy_images(4, 32))
            assert (tmp_path / "d.h5.partial").exists() and not path.exists()
            raise RuntimeError("killed")
    assert not path.exists() and not (tmp_path / "d.h5.partial").exists()
    # a stale .partial from a killed process is never mistaken for a dataset
    (tmp_path / "d.h5.partial").write_bytes(b"half")
    with pytest.raises(UserError, match="unfinished write"):
        read_info(path)


def test_wrong_shapes_rejected(tmp_path):
    with DatasetWriter(tmp_path / "d.h5", resolution=32, channels=4, mask_semantics="binary") as w:
        with pytest.raises(ValueError, match="expected uint8"):
            w.append(np.zeros((2, 32, 32, 3), np.uint8))
        with pytest.raises(ValueError, match="unknown metadata"):
            w.append(np.zeros((2, 32, 32, 4), np.uint8), colour=[1, 2])


def test_merge_concatenates_and_sums_summaries(tmp_path):
    a = write(tmp_path / "a.h5", toy_images(6, 32, seed=1), image_id=np.arange(6))
    b = write(tmp_path / "b.h5", toy_images(7, 32, seed=2), image_id=np.arange(7) + 6)
    out = merge([a, b], tmp_path / "m.h5")
    np.testing.assert_array_equal(
        load_images(out), np.concatenate([load_images(a), load_images(b)])
    )
    np.testing.assert_array_equal(read_metadata(out, "image_id"), np.arange(13))
    assert read_info(out).filter_summary.kept == 13
    assert read_info(out).filter_summary.rejected["foreground < 0.15"] == 6
    rgb = write(tmp_path / "rgb.h5", toy_images(3, 32)[..., :3].copy())
    with pytest.raises(UserError, match="cannot merge"):
        merge([a, rgb], tmp_path / "bad.h5")


def test_inspect_prints_summary_and_saves_grid(toy_h5, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["inspect", str(toy_h5), "--grid", str(grid), "--n", "16"]) == 0
    out = capsys.readouterr().out
    assert "samples      64" in out and "32x32" in out and "candidates 64, kept 64" in out
    assert grid.exists() and grid.stat().st_size > 1000


def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.h5")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not found" in err and "Traceback" not in err


def test_mask_filter_thesis_rules():
    m = np.zeros((100, 100), np.uint8)
    m[40:60, 40:60] = 255  # 4% foreground
    f = MaskFilter(min_fg=0.10, max_fg=0.80, border=0.05, max_border_fg=0.10)
    assert f.check(m) == "foreground < 0.1"
    m[20:80, 20:80] = 255  # 36%, away from the border
    assert f.check(m) is None
    m[:, :12] = 255  # whole left band: 50 of 1900 border pixels per row... > 10% of the ring
    assert border_foreground_fraction(m, 0.05) > 0.10 and f.check(m).startswith("border")
