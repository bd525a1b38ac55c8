"""What grading one submission produces (a verdict per part), and what the engine is handed."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

STATUSES = ("passed", "failed", "error", "timeout", "memory", "crashed", "missing")
MAX_MESSAGES = 3


@dataclass
class PartVerdict:
    part: str
    cell_id: str
    score: float
    max_score: float
    status: str
    messages: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


@dataclass
class Verdict:
    assignment: str
    parts: list[PartVerdict]
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seed: int | None = None

    @property
    def score(self) -> float:
        return sum(p.score for p in self.parts)

    @property
    def max_score(self) -> float:
        return sum(p.max_score for p in self.parts)

    def part(self, name: str) -> PartVerdict:
        return next(p for p in self.parts if p.part == name)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        data = json.loads(text)
        data["parts"] = [PartVerdict(**p) for p in data["parts"]]
        return cls(**data)


@dataclass
class Context:
    """What an assignment's engine gets for one submission; it returns the parts."""
    ex: object                  # extract.Extraction: trusted setup + the student's solution cells
    source: Path                # the source notebook (trusted: expected values come from it)
    seed: int                   # the course's secret grading seed: never handed to a sandbox
    limits: dict                # {"quick": Limits, "train": Limits}
    root: Path                  # this grading's job folder
    flags: list                 # append-only: flags for the whole submission
    train: bool = True
    probe_seed: int = 0         # this submission's hidden inputs: derived from seed and its code
    carry: Path | None = None   # NNKIT_CARRY_DIR: the reference's earlier classes (engine/carry.py)
