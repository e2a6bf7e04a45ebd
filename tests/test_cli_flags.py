"""Every command-line flag of the commands before the renovation (issue 12) is still accepted.

The parsers are generated from options dataclasses now; a field renamed by mistake would drop a
flag users rely on. New flags may come; none of these may go (a rename keeps the old flag).
"""

from __future__ import annotations

import argparse

from focusgan.cli import build_parser

FLAGS = {
    "": "--debug --version",
    "bench-motion": "--colour-weight --davis --feature-weight --fixed-colour-weight --flow-side --iterations --json --no-refine --saliency --sequences --superpixels --synthetic --synthetic-seed --synthetic-shots --threads --work-side",
    "demo": "--iters --n --out --threads --videos --workers",
    "evaluate": "--backbone --batch-size --bn --checkpoint --data --device --inception-weights --metrics --n --out --quiet --raw --ref-n --samples --seed --segmenter-steps --splits",
    "experiment": "--out --quiet --report --stop-after",
    "inspect": "--grid --n --seed",
    "merge": "--out",
    "prepare": "",
    "prepare coco": "--annotations --categories --channels --classifier --device --fit --images --inception-weights --min-area --min-confidence --no-reduced-decode --out --quiet --shard --size --workers",
    "prepare pairs": "--border --channels --classifier --device --fit --grabcut-unknown --images --inception-weights --mask-format --masks --max-border-fg --max-fg --min-confidence --min-fg --no-reduced-decode --object-id --out --quiet --shard --size --workers",
    "prepare video": "--border --channels --classifier --colour-weight --cut-threshold --device --feature-weight --fit --fixed-colour-weight --flow-side --frames-per-shot --inception-weights --iterations --max-border-fg --max-fg --min-confidence --min-fg --min-shot --no-reduced-decode --no-refine --out --quiet --saliency --segment-frames --shard --size --superpixels --threads --work-side --workers",
    "report": "--hist-n",
    "sample": "--batch-size --bn --checkpoint --device --n --out --raw --seed --view",
    "segment": "--chunk --colour-weight --feature-weight --fixed-colour-weight --flow-side --iterations --no-overlay --no-refine --out --saliency --superpixels --threads --work-side",
    "train": "--batch-critic --batch-gen --channels --checkpoint-every --critic-norm --data --device --dry-run --ema-decay --eval-backbone --eval-every --eval-n --gp-weight --iters --log-every --lr --lr-decay-iters --n-critic --out --preset --quiet --resolution --resume --sample-every --seed --snapshot-every --stop-after --width",
}


def flags() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, [*prefix, name])
            else:
                out.setdefault(" ".join(prefix), set()).update(a.option_strings)

    walk(build_parser(), [])
    return out


def test_every_flag_is_still_accepted():
    now = flags()
    missing = {
        command: sorted(set(expected.split()) - now.get(command, set()))
        for command, expected in FLAGS.items()
    }
    assert not {c: m for c, m in missing.items() if m}, missing
