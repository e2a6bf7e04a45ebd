"""The segmenter's options (`segment`, `bench-motion`, `prepare video`), and the
`SegmentParams` they set. The other settings of `SegmentParams` keep their measured values."""

from __future__ import annotations

from dataclasses import dataclass

from focusgan.errors import UserError
from focusgan.utils.options import option, parse_names
from focusgan.video.features import BETWEEN, PRIOR_FILES
from focusgan.video.saliency import INSIDE, MODES
from focusgan.video.segment import DECISIONS, REFINES, SegmentParams

_D = SegmentParams()


def _parse_priors(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return parse_names(value, tuple(PRIOR_FILES), "priors")


@dataclass(frozen=True, kw_only=True)
class SegmenterOptions:
    work_side: int = option(_D.work_side, "longer side of the frames the segmenter works on")
    flow_side: int = option(
        _D.flow_side,
        f"longer side of the frames optical flow works on (default {_D.flow_side}; "
        "0 = the working side)",
    )
    superpixels: int = option(_D.n_segments, "SLIC superpixels per frame")
    saliency: str = option(
        _D.saliency.mode,
        "motion saliency: uNLC's two cases, or the residual of a RANSAC camera-"
        f"motion fit (default {_D.saliency.mode})",
        choices=MODES,
    )
    inside: str = option(
        _D.saliency.inside,
        "FST inside-outside map of the motion boundaries with the motion saliency: averaged, "
        f"halving the saliency outside, multiplied, alone, or off (default {_D.saliency.inside})",
        choices=INSIDE,
    )
    regions: float = option(
        _D.saliency.components,
        "each region whose motion exceeds this many times the motion floor is scaled by its own "
        "peak, so a slow object beside a fast one counts (0 = every region scaled by the "
        "frame's strongest motion)",
    )
    explained: float = option(
        _D.saliency.explained,
        "weight the motion saliency by how well the flow explains each pixel's look, "
        "exp(-warp error / (K x local contrast)), damping spray, smoke or splashing water that "
        "moves with an object but changes its look each frame (0 = off; 0.25 measured: DAVIS "
        "kite-surf J 19 -> 62, but fast limbs and blurred bodies lose)",
        metavar="K",
    )
    shadows: bool = option(
        _D.saliency.shadow,
        "clear the motion of cast shadows (darker than the camera-aligned frames around, same "
        "chromaticity and texture); off by default: DAVIS mean J -0.1 (horsejump-high +1.3, "
        "dog -1.1)",
        flag="--shadows",
    )
    decision: str = option(
        _D.decision,
        "where a mask's edge is: Otsu's threshold over each shot's probabilities, or a fixed "
        f"0.5 (default {_D.decision})",
        choices=DECISIONS,
    )
    votes: str = option(
        _D.voting.normalise,
        "votes rescaled to a maximum of 1 over the whole shot (a frame where nothing moves "
        "stays empty) or per frame, as uNLC (default shot)",
        choices=("shot", "frame"),
    )
    iterations: int = option(_D.voting.iterations, "consensus-voting iterations")
    colour_weight: float = option(
        _D.colour_weight,
        "largest weight of the per-shot colour model against the motion votes, 0..1 "
        "(0 = off); lowered where the object's and background's colours overlap "
        f"(default {_D.colour_weight})",
    )
    colour_adaptive: bool = option(
        _D.colour_adaptive,
        "use --colour-weight as it is, even where colour separates object and background poorly",
        flag="--fixed-colour-weight",
    )
    feature_weight: float = option(
        _D.features.weight,
        "weight of the per-shot appearance model on ImageNet (EfficientNet-Lite0) features, "
        "fitted to the shot's own motion, 0..1 (0 = off)",
    )
    feature_between: str = option(
        _D.features.between,
        "the feature posterior of the frames the network skips: its sampled neighbours' warped "
        f"along the optical flow (flow) or linear in time (default {_D.features.between})",
        choices=BETWEEN,
    )
    prior: float = option(
        _D.features.prior,
        "weight of the priors' product (what moves in many shots, what people annotate as "
        "objects: people, animals, vehicles; not water, ground, spray or shadows) in the labels "
        "the per-shot feature model learns from, 0..1 (0 = off)",
    )
    priors: tuple[str, ...] = option(
        _D.features.priors,
        "comma-separated priors that multiply: motion (trained on the segmenter's own DAVIS "
        "motion masks), coco (on MS-COCO photos' instance masks)",
        convert=_parse_priors,
        show=",".join,
    )
    refinement: str = option(
        _D.refine,
        "how the masks' edges are snapped to the image's: a fast global smoother guided by the "
        f"frame at the working size, or a fast guided filter at the output size (default "
        f"{_D.refine})",
        choices=tuple(r for r in REFINES if r != "off"),
    )
    refine: bool = option(True, "skip the edge refinement (--refinement)")
    threads: int = option(_D.threads, "threads for superpixels")

    def params(self) -> SegmentParams:
        """The segmenter's parameters; a one-line `UserError` for values out of range."""
        if (
            self.work_side < 32
            or not (self.flow_side == 0 or self.flow_side >= 32)
            or self.superpixels < 8
            or self.iterations < 0
            or self.threads < 1
            or self.regions < 0
            or self.explained < 0
        ):
            raise UserError(
                "--work-side must be >= 32, --flow-side >= 32 (or 0), --superpixels >= 8, "
                "--iterations >= 0, --threads >= 1, --regions >= 0, --explained >= 0"
            )
        if not 0 <= self.colour_weight <= 1:
            raise UserError("--colour-weight must be between 0 and 1")
        if not 0 <= self.feature_weight <= 1:
            raise UserError("--feature-weight must be between 0 and 1")
        if not 0 <= self.prior <= 1:
            raise UserError("--prior must be between 0 and 1")
        if not self.priors and self.prior > 0:
            raise UserError("--priors names none; give motion, coco or both, or --prior 0")
        p = SegmentParams()
        p.work_side, p.n_segments, p.threads = self.work_side, self.superpixels, self.threads
        p.colour_weight, p.flow_side = self.colour_weight, self.flow_side
        p.colour_adaptive = self.colour_adaptive
        p.features.weight, p.features.prior = self.feature_weight, self.prior
        p.features.priors = tuple(self.priors)
        p.features.between = self.feature_between
        p.saliency.mode, p.saliency.inside = self.saliency, self.inside
        p.saliency.components, p.saliency.explained = self.regions, self.explained
        p.saliency.shadow = self.shadows
        p.decision, p.voting.normalise = self.decision, self.votes
        p.voting.iterations = self.iterations
        p.refine = self.refinement if self.refine else "off"
        return p

    def record(self) -> dict:
        """The settings as `SegmentParams` names them (stored with datasets and benchmarks)."""
        p = self.params()
        return {
            "work_side": p.work_side,
            "flow_side": p.flow_side,
            "n_segments": p.n_segments,
            "colour_weight": p.colour_weight,
            "colour_adaptive": p.colour_adaptive,
            "features.weight": p.features.weight,
            "features.prior": p.features.prior,
            "features.priors": list(p.features.priors),
            "features.between": p.features.between,
            "threads": p.threads,
            "refine": p.refine,
            "saliency.mode": p.saliency.mode,
            "saliency.inside": p.saliency.inside,
            "saliency.components": p.saliency.components,
            "saliency.explained": p.saliency.explained,
            "saliency.shadow": p.saliency.shadow,
            "decision": p.decision,
            "voting.iterations": p.voting.iterations,
            "voting.normalise": p.voting.normalise,
        }
