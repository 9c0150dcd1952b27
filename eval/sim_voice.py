"""Which LLM should speak for the simulated users: the share of its messages used as written.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/sim_voice.py [--users 20] [--turns 2] [--out DIR]
        [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b]

Free mode's headline needs messages the LLM wrote (goal: at least 80% used as written). With the
0.5B default, 70% were (eval/reports/eval at 86815ed): the rest were not a customer's message, said
what the target lacks, or named it. This runs the simulator's own talker
(:class:`convrec.evaluation.simulated.talk.FreeTalker`: the same prompt, retry and checks as
``convrec eval --suite simulated``) for the first ``--users`` simulated users of each catalog
(the suite's draw, same seed), each model in turn: the opening message, then a message after
each of ``--turns`` − 1 lists that missed (the system showed five other items each time). It
counts each message's source ("llm": used as written; "invalid", "unfaithful", "leak": replaced
by the attribute-mode message), per turn too, and the seconds per message. No system is run:
only the voice is compared. Writes report.json and report.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from convrec import load_settings
from convrec.backends.transformers_llm import TransformersLLM
from convrec.catalog.layout import open_catalog
from convrec.evaluation.provenance import code_version
from convrec.evaluation.simulated.talk import FreeTalker, Seen
from convrec.evaluation.simulated.users import FactBook, draw_users

log = logging.getLogger("eval.sim_voice")
CATALOGS = ("movies", "phones")
SEED = 0  # convrec eval's default seed


def run(model: str, users: int, turns: int = 2) -> dict[str, Any]:
    settings = load_settings(llm={"model": model})
    llm = TransformersLLM(model, settings)
    sources: Counter[str] = Counter()
    by_turn: list[Counter[str]] = [Counter() for _ in range(turns)]
    seconds: list[float] = []
    examples: list[dict[str, str]] = []
    for name in CATALOGS:
        catalog = open_catalog(name, settings)
        book = FactBook(catalog)
        talker = FreeTalker(catalog, llm)
        others = [it.id for it in catalog.items[: 5 * turns + 1]]
        for user in draw_users(catalog, users, SEED):
            facts = book.facts(user)
            pool = [i for i in others if i != user.target_id]
            said: list[str] = []
            revealed: frozenset[str] = frozenset()
            lists = [tuple(pool[5 * k : 5 * k + 5]) for k in range(turns - 1)]
            seen = [Seen("recommend", shown=shown, ranked=shown) for shown in lists]
            for n, last in enumerate([None, *seen]):
                start = time.perf_counter()
                u = talker.say(user, facts, revealed, last, said)
                seconds.append(time.perf_counter() - start)
                sources[u.source] += 1
                by_turn[n][u.source] += 1
                said.append(u.body)
                revealed = revealed | set(u.revealed)
                if u.source != "llm" and len(examples) < 12:
                    examples.append({"catalog": name, "source": u.source, "dropped": u.dropped,
                                     "why": u.why})  # fmt: skip
    total = sum(sources.values())
    log.info("%s: %d of %d used as written", model, sources["llm"], total)
    return {"model": model, "messages": total, "sources": dict(sources),
            "used_as_written": sources["llm"] / total, "median_s": statistics.median(seconds),
            "used_by_turn": [t["llm"] / max(1, sum(t.values())) for t in by_turn],
            "examples": examples}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20, help="simulated users per catalog")
    ap.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    ap.add_argument("--turns", type=int, default=2, help="messages per user: the opening, then "
                    "one after each missed list of five")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("eval/reports/sim_voice"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results = [run(m, args.users, args.turns) for m in args.models.split(",") if m]
    args.out.mkdir(parents=True, exist_ok=True)
    commit = code_version()
    data = {"commit": commit, "users_per_catalog": args.users, "turns": args.turns,
            "results": results}  # fmt: skip
    (args.out / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    lines = [
        f"Commit: {commit}",
        "",
        "# Which LLM speaks for the simulated users",
        "",
        f"`python eval/sim_voice.py --users {args.users} --turns {args.turns}` (see its "
        "docstring): the opening "
        f"message and one after each of {args.turns - 1} missed lists, for the first "
        f"{args.users} simulated users of each catalog, through the simulator's own prompt, "
        "retries and checks.",
        "",
        "| model | messages | used as written | by turn | not a customer's message | says what "
        "the target lacks | names the target | median s per message |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["sources"]
        turns = " ".join(f"{x:.2f}" for x in r["used_by_turn"])
        lines.append(
            f"| {r['model']} | {r['messages']} | "
            f"**{r['used_as_written']:.0%}** | {turns} | {s.get('invalid', 0)} | "
            f"{s.get('unfaithful', 0)} | {s.get('leak', 0)} | {r['median_s']:.1f} |"
        )
    for r in results:
        lines += ["", f"## Dropped messages of {r['model']} (first 12)", ""]
        lines += [f"- {e['catalog']}, {e['source']}: {e['dropped']!r} {e['why']}".rstrip()
                  for e in r["examples"]]  # fmt: skip
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
