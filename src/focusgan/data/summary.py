"""What a prepare job kept, rejected and skipped: the filter summary stored in every dataset file."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FilterSummary:
    """How many candidates a source saw, how many it kept, and why it dropped the rest.

    `rejected` counts samples a filter dropped (e.g. "fg<0.10"); `skipped` counts inputs that
    could not be used at all (e.g. "unreadable image"). Stored as JSON in every dataset file.
    """

    candidates: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)

    def keep(self, n: int = 1) -> None:
        self.candidates += n
        self.kept += n

    def reject(self, reason: str, n: int = 1) -> None:
        self.candidates += n
        self.rejected[reason] += n

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def update(self, other: FilterSummary) -> None:
        """Add another summary's counts to this one (shards, merged files)."""
        self.candidates += other.candidates
        self.kept += other.kept
        self.rejected.update(other.rejected)
        self.skipped.update(other.skipped)

    def to_dict(self) -> dict:
        return {
            "candidates": self.candidates,
            "kept": self.kept,
            "rejected": dict(sorted(self.rejected.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FilterSummary:
        d = json.loads(text or "{}")
        return cls(
            candidates=int(d.get("candidates", 0)),
            kept=int(d.get("kept", 0)),
            rejected=Counter(d.get("rejected", {})),
            skipped=Counter(d.get("skipped", {})),
        )

    def lines(self) -> list[str]:
        """A human-readable summary, one line per count."""
        out = [f"candidates {self.candidates}, kept {self.kept}"]
        out += [f"  rejected {n:>8}  {reason}" for reason, n in sorted(self.rejected.items())]
        out += [f"  skipped  {n:>8}  {reason}" for reason, n in sorted(self.skipped.items())]
        return out
