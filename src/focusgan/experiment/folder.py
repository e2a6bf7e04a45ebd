"""An experiment's output folder (`focusgan experiment --out`): where each of its files lives.

    OUT/experiment.yaml                        the resolved experiment (datasets as absolute paths)
    OUT/experiment.json                        what was done: parts, files, seconds (for the report)
    OUT/data/NAME.h5                           datasets prepared from a recipe without `file`
    OUT/NAME/data.evaluation-BACKBONE.json     the training data's own scores
    OUT/NAME/run-3ch/, OUT/NAME/run-4ch/       the runs (`focusgan.training.rundir.RunDir`)
    OUT/NAME/run-Cch/evaluation-BACKBONE.json          the trained (final) generator
    OUT/NAME/run-Cch/initial.evaluation-BACKBONE.json  the same run's step-0 generator
    OUT/NAME/run-Cch/report-samples.npz        samples of both generators, for the report
    OUT/NAME/VARIANT/run-Cch/                  a variant's runs (same files as the baseline's)
    OUT/data/NAME.VARIANT.h5                   a foreground-only variant's copy of the dataset
    OUT/report.html, OUT/report.md, OUT/report-files/   the report

Every file is written atomically, so a file present is finished.
"""

from __future__ import annotations

import os
from pathlib import Path

from focusgan.training.rundir import RunDir


class ExperimentDir:
    """The paths of one experiment folder (nothing is created by naming them)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.config = self.path / "experiment.yaml"
        self.summary = self.path / "experiment.json"
        self.report_md = self.path / "report.md"
        self.report_html = self.path / "report.html"
        self.report_files = self.path / "report-files"

    def data_file(self, dataset: str) -> Path:
        """Where a dataset prepared from a recipe without `file` is written."""
        return self.path / "data" / f"{dataset}.h5"

    def data_evaluation(self, dataset: str, backbone: str) -> Path:
        return self.path / dataset / f"data.evaluation-{backbone}.json"

    def run(self, dataset: str, channels: int | str, variant: str | None = None) -> RunDir:
        """A baseline run, or a variant's (`OUT/NAME/VARIANT/run-Cch`)."""
        parent = self.path / dataset / variant if variant else self.path / dataset
        return RunDir(parent / f"run-{channels}ch")

    def report_samples(self, run: RunDir) -> Path:
        """Samples of a run's trained and step-0 generators that the report shows."""
        return run.path / "report-samples.npz"

    def relative(self, path: str | os.PathLike) -> str:
        """A path inside the folder as experiment.json records it."""
        return str(Path(path).relative_to(self.path))

    def resolve(self, relative: str) -> Path:
        return self.path / relative
