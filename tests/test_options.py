"""Options defined once: the parser and the experiment's recipes both come from the dataclasses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from focusgan.cli.options import add_options, from_args
from focusgan.errors import UserError
from focusgan.prepare.coco import CocoOptions
from focusgan.prepare.filters import THESIS_FRAME_FILTER
from focusgan.prepare.pipeline import RunOptions
from focusgan.prepare.video import VideoOptions
from focusgan.training.config import IDENTITY_FIELDS, RESUMABLE_FIELDS
from focusgan.utils.options import from_mapping, to_flags


def parse(cls: type, argv: list[str]):
    parser = argparse.ArgumentParser()
    add_options(parser, cls)
    return from_args(cls, parser.parse_args(argv))


def test_the_command_line_and_a_recipe_make_the_same_options(tmp_path):
    argv = ["--annotations", "a.json", "--images", "imgs", "--categories", "cat", "18"]
    argv += ["--no-reduced-decode", "--min-area", "0.2", "--size", "32"]
    recipe = {"annotations": "a.json", "images": "imgs", "categories": ["cat", "18"]}
    recipe |= {"no_reduced_decode": True, "min_area": "0.2", "size": 32}
    from_cli = parse(CocoOptions, argv)
    assert from_cli == from_mapping(CocoOptions, recipe, "recipe")
    assert from_cli == CocoOptions(
        annotations=Path("a.json"), images=Path("imgs"), categories=["cat", "18"],
        reduced_decode=False, min_area=0.2, size=32,
    )  # fmt: skip
    # a field's own name works in a recipe too, and paths start at the recipe's folder
    opts = from_mapping(CocoOptions, {**recipe, "reduced_decode": True}, "recipe", tmp_path)
    assert opts.reduced_decode and opts.annotations == tmp_path / "a.json"


def test_options_give_back_their_flags():
    argv = ["v.mp4", "w.mp4", "--size", "32", "--max-fg", "0.5", "--fixed-colour-weight"]
    opts = parse(VideoOptions, argv)
    assert sorted(to_flags(opts)) == sorted(argv)
    assert parse(VideoOptions, to_flags(opts)) == opts
    assert to_flags(RunOptions(shard=(1, 4))) == ["--shard", "1/4"]


def test_nested_options_are_flattened_with_their_defaults():
    opts = parse(VideoOptions, ["v.mp4", "--max-fg", "0.5", "--fixed-colour-weight"])
    assert opts.paths == [Path("v.mp4")]
    assert opts.filter.max_fg == 0.5 and opts.filter.min_fg == THESIS_FRAME_FILTER.min_fg
    assert opts.segmenter.colour_adaptive is False and opts.segmenter.refine is True
    assert opts.decode_margin == 2.0  # a library setting, not an option
    with pytest.raises(SystemExit):
        parse(VideoOptions, ["v.mp4", "--decode-margin", "10"])


def test_refinement_flags_choose_the_segmenters_last_stage():
    def refine(*flags: str) -> str:
        return parse(VideoOptions, ["v.mp4", *flags]).segmenter.params().refine

    assert refine() == "fgs"
    assert refine("--refinement", "guided") == "guided"
    assert refine("--no-refine") == refine("--refinement", "guided", "--no-refine") == "off"
    with pytest.raises(SystemExit):  # "off" is --no-refine's
        parse(VideoOptions, ["v.mp4", "--refinement", "off"])


def test_feature_between_flag_reaches_the_segmenter_and_its_record():
    def between(*flags: str):
        seg = parse(VideoOptions, ["v.mp4", *flags]).segmenter
        return seg.params().features.between, seg.record()["features.between"]

    assert between() == ("flow", "flow")
    assert between("--feature-between", "linear") == ("linear", "linear")
    with pytest.raises(SystemExit):
        parse(VideoOptions, ["v.mp4", "--feature-between", "warped"])


def test_recipe_errors_are_one_line():
    with pytest.raises(UserError, match=r"has no option --min-aera; known: \[.*'min_area'"):
        from_mapping(CocoOptions, {"min_aera": 1}, "recipe")
    with pytest.raises(UserError, match="--fit must be one of"):
        from_mapping(CocoOptions, {"annotations": "a", "images": "b", "fit": "x"}, "recipe")
    with pytest.raises(UserError, match="size cannot be 'big'"):
        from_mapping(CocoOptions, {"annotations": "a", "images": "b", "size": "big"}, "recipe")
    for bad in (32.5, True):  # converted as the command line converts text
        with pytest.raises(UserError, match="size cannot be"):
            from_mapping(CocoOptions, {"annotations": "a", "images": "b", "size": bad}, "recipe")
    with pytest.raises(UserError, match="needs annotations"):
        from_mapping(CocoOptions, {"images": "b"}, "recipe")


def test_resume_rules_live_in_the_fields():
    assert "seed" in IDENTITY_FIELDS and "width" in IDENTITY_FIELDS
    assert "iters" in RESUMABLE_FIELDS and "device" in RESUMABLE_FIELDS
    assert not set(IDENTITY_FIELDS) & set(RESUMABLE_FIELDS)
