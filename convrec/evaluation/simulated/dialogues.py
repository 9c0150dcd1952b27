"""A simulated dialogue's record (one ``TurnLog`` per turn) and the suite's metrics over
dialogues: shared by the simulator that runs them and the report that reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_TURNS = 5
LIST = 10  # success@k reads the top LIST of each turn's ranking
DEPTH = 50  # the final ranking, for Recall@50


@dataclass(frozen=True)
class TurnLog:
    """One turn: what the user said, what the system did, where the target ranked (0 = first)."""

    turn: int
    said: str
    source: str
    action: str
    question: str
    shown: tuple[str, ...]
    target_rank: int | None  # in the top LIST of the turn's ranking, else None
    dropped: str = ""
    why: str = ""  # what a dropped "unfaithful" message said that the target lacks


@dataclass(frozen=True)
class Dialogue:
    user: str
    target: str
    system: str
    mode: str
    turns: tuple[TurnLog, ...]
    final_rank: int | None  # in the final ranking of DEPTH items, else None

    def first_success(self, k: int) -> int | None:
        """The first turn with the target in the top ``k``, or None."""
        hits = (t.turn for t in self.turns if t.target_rank is not None and t.target_rank < k)
        return next(hits, None)

    def count(self, source: str) -> int:
        return sum(t.source == source for t in self.turns)

    @property
    def questions(self) -> int:
        return sum(t.action == "ask" for t in self.turns)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Dialogue:
        turns = tuple(TurnLog(**{**t, "shown": tuple(t["shown"])}) for t in d["turns"])
        return cls(**{**d, "turns": turns})


def metrics(dialogues: Sequence[Dialogue], max_turns: int = MAX_TURNS) -> dict[str, float]:
    """The suite's numbers over some dialogues (see the module docstring)."""
    n = max(len(dialogues), 1)
    first = [d.first_success(LIST) for d in dialogues]
    wins = [f for f in first if f is not None]
    out = {
        "users": float(len(dialogues)),
        "success@1": sum(d.first_success(1) is not None for d in dialogues) / n,
        f"success@{LIST}": len(wins) / n,
        "recall@10": sum(d.final_rank is not None and d.final_rank < 10 for d in dialogues) / n,
        "recall@50": sum(d.final_rank is not None for d in dialogues) / n,
        "questions": sum(d.questions for d in dialogues) / n,
        "leak_drops": float(sum(d.count("leak") for d in dialogues)),
        "invalid_drops": float(sum(d.count("invalid") for d in dialogues)),
        "unfaithful_drops": float(sum(d.count("unfaithful") for d in dialogues)),
    }
    if wins:
        out[f"turns_to_success@{LIST}"] = sum(wins) / len(wins)
    for t in range(1, max_turns + 1):
        out[f"success@{LIST}_turn{t}"] = sum(f is not None and f <= t for f in first) / n
    return out
