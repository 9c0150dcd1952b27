"""What every evaluation suite shares: its context (settings, systems, journal) and its result.

A suite is a function ``run(ctx: EvalContext) -> SuiteResult``. ``convrec eval`` runs the suites
asked for and writes one report (JSON + Markdown + PNG plots) from their results.

Runs are resumable: a suite records each finished unit (a dialogue, a simulated user, a turn) in
a :class:`Journal` under the output folder, and a rerun with the same configuration and the same
code (commit, and the diff of a dirty checkout) skips them. Every unit records the code version
that produced it; ``reuse_across_code`` lets units of other code versions count, and the report
then names them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convrec.config import Settings
    from convrec.engine import ConvRec
    from convrec.protocols import LLM

from convrec.errors import InputError
from convrec.evaluation.provenance import code_version

log = logging.getLogger(__name__)

# The two variants of our system every suite can compare: with the LLM, and rules only.
SYSTEMS = ("full", "no-llm")

# A curve: one (x, y) point per step, e.g. (k, recall@k) or (turn, success@10).
Curve = list[tuple[float, float]]


@dataclass(frozen=True)
class SuiteResult:
    """One suite's outcome, JSON-ready.

    - ``summary``: headline metrics per system, ``{system: {metric: value}}``;
    - ``details``: anything else worth keeping (per-unit rows, counts, notes);
    - ``markdown``: the suite's section of report.md (headings from ``###`` down);
    - ``curves``: plots to draw, ``{plot name: {system: [(x, y), ...]}}``; the plot name is
      its title, e.g. ``"INSPIRED dev: Recall@k"``.
    """

    suite: str
    summary: Mapping[str, Mapping[str, float]]
    details: Mapping[str, Any] = field(default_factory=dict)
    markdown: str = ""
    curves: Mapping[str, Mapping[str, Curve]] = field(default_factory=dict)


class Journal:
    """Append-only JSON lines of finished units, keyed by a string.

    The first line holds a fingerprint of what produced the results (configuration, quick mode,
    seed, and the code version unless reused across code) and, readable, the code version and
    the configuration; each unit line records the code version that produced it. A journal with
    another fingerprint is set aside (renamed ``*.stale``), never mixed in.
    """

    def __init__(
        self, path: Path, fingerprint: str, code: str = "", config: Mapping[str, Any] | None = None
    ) -> None:
        self.path, self.code = path, code
        self._done: dict[str, Any] = {}
        self.codes: dict[str, str] = {}  # unit key -> the code version that produced it
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            head = json.loads(lines[0]) if lines else {}
            if head.get("fingerprint") == fingerprint:
                for line in lines[1:]:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:  # a run killed mid-write: redo that unit
                        continue
                    self._done[row["key"]] = row["value"]
                    self.codes[row["key"]] = row.get("code", "unknown")
                log.info("%s: resuming, %d units already done", path.name, len(self._done))
                return
            path.replace(path.with_suffix(path.suffix + ".stale"))
            log.info("%s: configuration or code changed; old results kept as *.stale", path.name)
        head = {"fingerprint": fingerprint, "code": code, "config": dict(config or {})}
        path.write_text(json.dumps(head, default=str) + "\n", encoding="utf-8")

    def __contains__(self, key: str) -> bool:
        return key in self._done

    def __len__(self) -> int:
        return len(self._done)

    def get(self, key: str) -> Any:
        return self._done.get(key)

    def put(self, key: str, value: Any) -> None:
        """Record one finished unit (flushed at once, so a killed run loses at most this one)."""
        self._done[key] = value
        self.codes[key] = self.code
        with self.path.open("a", encoding="utf-8") as f:
            row = {"key": key, "value": value, "code": self.code}
            f.write(json.dumps(row, sort_keys=True) + "\n")

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """The recorded value of ``key``, computing and recording it the first time."""
        if key not in self._done:
            self.put(key, compute())
        return self._done[key]


@dataclass
class EvalContext:
    """What a suite may use. Systems are built lazily and shared between suites."""

    settings: Settings
    out: Path
    quick: bool = False
    seed: int = 0
    tsv: Path | None = None  # the INSPIRED split (default ../shared/data/inspired/dev.tsv)
    # Which of our systems the suites run (the baselines always run): ("no-llm",) measures the
    # rules-only system where the LLM's turns would cost hours (INSPIRED replays every message).
    systems: tuple[str, ...] = SYSTEMS
    # Count finished units of other code versions (``--reuse-across-code``); the report says so.
    reuse_across_code: bool = False
    code: str = field(default_factory=code_version)
    _journals: dict[Path, Journal] = field(default_factory=dict, repr=False)
    _systems: dict[tuple[str, str], ConvRec] = field(default_factory=dict, repr=False)
    _shared_llm: list[LLM] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown or not self.systems:
            raise InputError(
                f"Unknown system(s) {unknown or self.systems}. Fix: use one or more of "
                f"{', '.join(SYSTEMS)}."
            )

    def _llm(self) -> LLM:
        """The configured LLM, loaded once and shared by the full system on every catalog."""
        if not self._shared_llm:
            from convrec.backends import make_llm

            self._shared_llm.append(make_llm(self.settings))
        return self._shared_llm[0]

    def config(self, suite: str, **extra: Any) -> dict[str, Any]:
        """Everything besides the code that changes a suite's numbers."""
        return {
            "suite": suite,
            "settings": self.settings.model_dump(mode="json"),
            "quick": self.quick,
            "seed": self.seed,
            **extra,
        }

    def fingerprint(self, suite: str, **extra: Any) -> str:
        """A hash of the configuration and, unless reused across code, the code version."""
        code = {} if self.reuse_across_code else {"code": self.code}
        blob = json.dumps({**self.config(suite, **extra), **code}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def journal(self, suite: str, name: str, **extra: Any) -> Journal:
        """The journal ``<out>/journal/<suite>-<name>.jsonl`` for this configuration."""
        path = self.out / "journal" / f"{suite}-{name}.jsonl"
        journal = Journal(path, self.fingerprint(suite, name=name, **extra), self.code,
                          self.config(suite, name=name, **extra))  # fmt: skip
        self._journals[path] = journal
        return journal

    def unit_codes(self) -> dict[str, int]:
        """How many finished units each code version produced, over this run's journals."""
        counts: dict[str, int] = {}
        for journal in self._journals.values():
            for code in journal.codes.values():
                counts[code] = counts.get(code, 0) + 1
        return counts

    def system(self, name: str, catalog: str) -> ConvRec:
        """Our system on ``catalog``: ``"full"`` (with the LLM) or ``"no-llm"`` (rules only).

        Sessions live in a database under the output folder, so evaluation never touches the
        user's conversations.
        """
        if name not in self.systems:
            raise ValueError(f"unknown system {name!r}; this run has {self.systems}")
        key = (name, catalog)
        if key not in self._systems:
            from convrec.engine import ConvRec

            data = self.settings.model_dump()
            data["catalog"] = catalog
            data["seed"] = self.seed
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{name}-{catalog}").strip("-")
            data["sessions"]["path"] = str(self.out / "sessions" / f"{safe}.db")
            if name == "no-llm":
                data["llm"]["backend"] = "none"
            settings = type(self.settings).model_validate(data)
            full = name == "full" and self.settings.llm.backend != "none"
            llm = self._llm() if full else None  # one model for every catalog
            self._systems[key] = ConvRec.from_config(settings=settings, catalog=catalog, llm=llm)
        return self._systems[key]
