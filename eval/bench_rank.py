"""Ranking speed on this machine: retrieval + fusion + rerank for realistic movie requests,
with and without the collaborative route, after warm-up.

    HF_HUB_OFFLINE=1 python eval/bench_rank.py [--repeats 5] [--out eval/reports/bench_rank]

The states come from the rules-only understanding of the taste panel's movie requests
(eval/taste/panel.yaml, the last turn of each); each is ranked ``--repeats`` times through
``ConvRec.rank`` (queries, retrieval, the cf and match routes, fusion and rerank, no LLM).
Reported: the median and p95 milliseconds per ranking, with the cf route on and off, and the
ratio to a bare top-100 Chroma query of one MiniLM vector in the same run. Writes report.json
and report.md to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from convrec import ConvRec, load_settings
from convrec.dialogue.state import DialogueState
from convrec.evaluation.provenance import code_version
from convrec.ranking.query import dialogue_context
from convrec.ranking.recommend import rank

log = logging.getLogger("eval.bench_rank")
HERE = Path(__file__).resolve().parent


def _p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "reports" / "bench_rank")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings(llm={"backend": "none"}, sessions={"path": str(args.out / "s.db")})
    rec = ConvRec.from_config(settings=settings, catalog="movies")
    rec.warm_up()
    panel = yaml.safe_load((HERE / "taste" / "panel.yaml").read_text())
    dialogues = [e["turns"] for e in panel["movies"]]
    cases = []
    for turns in dialogues:
        state = DialogueState()
        said: list[str] = []
        for t in turns:
            said.append(t)
            msgs = tuple(m for s in said for m in [_user(s)])
            state = rec._prefix_state(msgs, state)
        cases.append((state, said))
    off = settings.model_copy(update={"fusion": settings.fusion.model_copy(
        update={"weights": {**settings.fusion.weights, "cf": 0.0}})})  # fmt: skip
    times: dict[str, list[float]] = {"with cf": [], "without cf": [], "bare query": []}
    vector = rec.retriever.text.encode_queries(["a funny animated movie"])[0]  # type: ignore[union-attr]
    for _ in range(args.repeats):
        for state, said in cases:
            ctx = dialogue_context(said, state, rec._title, settings.fusion)
            for name, s in (("with cf", settings), ("without cf", off)):
                t0 = time.perf_counter()
                rank(state, rec.retriever, rec.catalog, s, 5, channels=rec._search.channels,
                     context=ctx)  # fmt: skip
                times[name].append(1e3 * (time.perf_counter() - t0))
            t0 = time.perf_counter()
            rec.store.query("movies__content", vector, 100)
            times["bare query"].append(1e3 * (time.perf_counter() - t0))
    bare = statistics.median(times["bare query"])
    result: dict[str, Any] = {
        "commit": code_version(),
        "command": f"python eval/bench_rank.py --repeats {args.repeats}",
        "rankings": len(times["with cf"]),
        "ms": {k: {"p50": statistics.median(v), "p95": _p95(v)} for k, v in times.items()},
        "ratio_to_bare_query": {k: statistics.median(v) / bare for k, v in times.items()},
        "cf_model": settings.cf.model,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"Commit: {result['commit']}",
        "",
        "# Ranking speed (movies, 9,061 items, after warm-up)",
        "",
        f"Command: `{result['command']}`; {result['rankings']} rankings of the taste panel's "
        f"movie requests per variant, rules-only states, cf model {result['cf_model']}.",
        "",
        "| variant | p50 ms | p95 ms | p50 ÷ bare Chroma query |",
        "|---|---|---|---|",
    ]
    for k, v in result["ms"].items():
        lines.append(
            f"| {k} | {v['p50']:.1f} | {v['p95']:.1f} | {result['ratio_to_bare_query'][k]:.1f} |"
        )
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    log.info("wrote %s", args.out / "report.md")
    return 0


def _user(text: str) -> Any:
    from convrec.types import Message

    return Message("user", text)


if __name__ == "__main__":
    raise SystemExit(main())
