"""What `archivebot doctor` found (and repaired): the report every front end prints or serialises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One kind of disagreement, with how many rows or vectors it concerns."""

    code: str
    message: str
    count: int = 1
    repairable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "count": self.count, "repairable": self.repairable}


@dataclass
class DoctorReport:
    """The outcome of a check (and of a repair, when one ran)."""

    data_dir: str
    generation: int | None = None
    model: str | None = None
    dimension: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth a look, not a problem of the index (failing feeds)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "data_dir": self.data_dir,
            "generation": self.generation,
            "model": self.model,
            "dimension": self.dimension,
            "counts": dict(self.counts),
            "problems": [problem.to_dict() for problem in self.problems],
            "repaired": list(self.repaired),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }

    def text(self) -> str:
        lines = [
            f"index      {self.data_dir} (generation {self.generation}, model {self.model}, {self.dimension} dims)",
            "counts     " + ", ".join(f"{value} {key}" for key, value in self.counts.items()),
        ]
        lines += [f"repaired   {item}" for item in self.repaired]
        lines += [f"note       {note}" for note in self.notes]
        lines += [f"warning    {warning}" for warning in self.warnings]
        if self.ok:
            lines.append("ok         rows, vectors and full text agree")
        for problem in self.problems:
            fix = "" if problem.repairable else " (not repairable by doctor)"
            lines.append(f"problem    [{problem.code}] {problem.message}{fix}")
        if any(problem.repairable for problem in self.problems):
            lines.append("run `archivebot doctor --repair` to fix the repairable problems")
        return "\n".join(lines)
