"""Two uses of the LLM in the ranking, each measured against the rules-only system on the
INSPIRED dev turns of the check half (dialogues nothing was tuned on).

    HF_HUB_OFFLINE=1 python eval/llm_uses.py [--half check] [--limit N]
        [--out eval/reports/llm_uses]

- ``ideal``: the LLM reads the seeker's last two messages and writes one line describing the
  ideal movie (prompts/ideal_item.yaml); that line is one more context query, weighing as much
  as the newest message.
- ``judge``: for each of the rules-only top 20, the probability the LLM gives to "yes" as the
  next token of "would they enjoy it?" (prompts/judge_item.yaml); the 20 are re-sorted by
  0.5 · their rules score (min–max over the 20) + 0.5 · P(yes). The judge runs on a float32
  copy of the model (one batched forward pass of 20 prompts: 17 s here, 140 s in bfloat16).

Both settings were fixed before the run; nothing is tuned on the measured half. The report
gives dedup R@10 and R@50 per system, the paired per-dialogue difference to the rules-only
system with its 95% bootstrap interval, and the median seconds each use adds to a turn.
Writes report.json and report.md to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from convrec import ConvRec, load_settings
from convrec.dialogue.state import DialogueState
from convrec.evaluation.inspired.data import half, load_turns
from convrec.evaluation.inspired.run import per_dialogue
from convrec.evaluation.metrics import mean, paired_bootstrap, recall_at_k
from convrec.evaluation.provenance import code_version
from convrec.prompts import render
from convrec.ranking.query import DialogueContext, dialogue_context
from convrec.ranking.recommend import rank

log = logging.getLogger("eval.llm_uses")
HERE = Path(__file__).resolve().parent
DEFAULT_TSV = HERE.parents[1] / "shared" / "data" / "inspired" / "dev.tsv"
JUDGED = 20  # the top of the rules-only list the judge reranks
SAID = 2  # the seeker's last messages the LLM reads


def facts(item: Any) -> str:
    a = item.attributes
    parts = [f"genres: {', '.join(a['genres'])}"] if a.get("genres") else []
    if a.get("year"):
        parts.append(f"year: {a['year']}")
    if a.get("director"):
        parts.append(f"director: {', '.join(a['director'][:2])}")
    return "; ".join(parts) or item.category


def ideal_line(llm: Any, said: list[str]) -> str:
    opening = render("ideal_item", noun="movie", said=said)
    text = llm.generate(opening, max_new_tokens=40)
    return text.strip().split("\n")[0]


def p_yes(llm: Any, said: list[str], items: list[Any], model: Any = None) -> list[float]:
    """P("yes") against P("no") as the next token, one batched forward pass for all items,
    through ``model`` (default: the LLM's own)."""
    import torch

    tok = llm.tokenizer
    chats = [
        [{"role": m.role, "content": m.content}
         for m in render("judge_item", noun="movie", said=said, title=it.title, facts=facts(it))]
        for it in items
    ]  # fmt: skip
    texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
    tok.padding_side = "left"
    batch = tok(texts, return_tensors="pt", padding=True)
    yes = [tok.encode(w, add_special_tokens=False)[0] for w in ("yes", "Yes")]
    no = [tok.encode(w, add_special_tokens=False)[0] for w in ("no", "No")]
    with torch.inference_mode():
        logits = (model or llm.model)(**batch).logits[:, -1, :].float()
    probs = torch.softmax(logits, dim=-1)
    y, n = probs[:, yes].sum(dim=1), probs[:, no].sum(dim=1)
    return [float(v) for v in (y / (y + n + 1e-9))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tsv", type=Path, default=DEFAULT_TSV)
    parser.add_argument("--half", default="check", choices=("tune", "check"))
    parser.add_argument("--limit", type=int, default=0, help="first N turns only (0: all)")
    parser.add_argument("--out", type=Path, default=HERE / "reports" / "llm_uses")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from convrec.backends.transformers_llm import TransformersLLM

    base = load_settings()
    rules = load_settings(llm={"backend": "none"}, sessions={"path": str(args.out / "s.db")})
    rec = ConvRec.from_config(settings=rules, catalog="movies")
    llm = TransformersLLM.from_settings(base)
    # The judge reads 20 prompts in one forward pass: on a CPU without bf16 arithmetic that pass
    # took 140 s in bfloat16 and 17 s in float32 here, so the judge gets a float32 copy (the
    # ideal line is decoding, where bfloat16 is as fast).
    judge_model = copy.deepcopy(llm.model).float()
    turns, _ = load_turns(args.tsv, rec.catalog)
    turns = [t for t in turns if half(t.dialog_id) == args.half and t.new_ids]
    turns = turns[: args.limit] if args.limit else turns
    rows: dict[str, list[tuple[str, float]]] = {}
    seconds: dict[str, list[float]] = {"ideal": [], "judge": []}
    examples = []
    for turn in tqdm(turns, desc="turns", unit="turn"):
        msgs = list(turn.context.messages)
        said = [m.content for m in msgs if m.role == "user"]
        if not said:
            continue
        state = DialogueState()
        for n, m in enumerate(msgs):
            if m.role == "user":
                state = rec._prefix_state(tuple(msgs[: n + 1]), state)
        ctx = dialogue_context(said, state, rec._title, rules.fusion)

        def ranked(context: DialogueContext, state: DialogueState = state) -> list[Any]:
            return rank(state, rec.retriever, rec.catalog, rules, 50,
                        channels=rec._search.channels, context=context)  # fmt: skip

        plain = ranked(ctx)
        t0 = time.perf_counter()
        line = ideal_line(llm, said[-SAID:])
        ideal = ranked(DialogueContext((*ctx.parts, (line, 1.0)), ctx.obscure, ctx.stale))
        seconds["ideal"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        head = plain[:JUDGED]
        judged = (
            p_yes(llm, said[-SAID:], [rec.catalog[r.item_id] for r in head], judge_model)
            if head
            else []
        )
        lo, hi = min((r.score for r in head), default=0), max((r.score for r in head), default=1)
        mixed = [
            (0.5 * (r.score - lo) / ((hi - lo) or 1) + 0.5 * p, r)
            for r, p in zip(head, judged, strict=True)
        ]
        resorted = [r for _, r in sorted(mixed, key=lambda t: -t[0])] + plain[JUDGED:]
        seconds["judge"].append(time.perf_counter() - t0)
        for name, recs in (("rules", plain), ("ideal", ideal), ("judge", resorted)):
            ids = [r.item_id for r in recs]
            for k in (10, 50):
                rows.setdefault(f"{name}:dedup_R@{k}", []).append(
                    (turn.dialog_id, recall_at_k(ids, turn.new_ids, k))
                )
        if len(examples) < 8:
            top = [rec.catalog[r.item_id].title for r in resorted[:5]]
            examples.append({"said": said[-SAID:], "ideal": line, "judge_top": top})
    result: dict[str, Any] = {
        "commit": code_version(),
        "command": "python eval/llm_uses.py" + (f" --limit {args.limit}" if args.limit else ""),
        "half": args.half,
        "turns": len(turns),
        "model": base.llm.model,
        "summary": {key: mean([v for _, v in vals]) for key, vals in rows.items()},
        "median_seconds": {k: statistics.median(v) for k, v in seconds.items() if v},
        "paired": {},
        "examples": examples,
    }
    for use in ("ideal", "judge"):
        for metric in ("dedup_R@10", "dedup_R@50"):
            a = per_dialogue(rows[f"{use}:{metric}"])
            b = per_dialogue(rows[f"rules:{metric}"])
            common = sorted(set(a) & set(b))
            diff, lo_, hi_ = paired_bootstrap([a[d] for d in common], [b[d] for d in common])
            result["paired"][f"{use}:{metric}"] = {"diff": diff, "low": lo_, "high": hi_,
                                                   "dialogues": len(common)}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(result))
    log.info("wrote %s", args.out / "report.md")
    return 0


def markdown(r: dict[str, Any]) -> str:
    s = r["summary"]
    lines = [
        f"Commit: {r['commit']}",
        "",
        "# Two uses of the LLM in the ranking (INSPIRED dev, check half)",
        "",
        f"Command: `{r['command']}`. Model: {r['model']}. {r['turns']} turns with new targets "
        f"in the {r['half']} half; both uses' settings were fixed before the run.",
        "",
        "| system | dedup R@10 | dedup R@50 | paired diff R@10 vs rules [95% CI] "
        "| median s added |",
        "|---|---|---|---|---|",
        f"| rules only | {s['rules:dedup_R@10']:.3f} | {s['rules:dedup_R@50']:.3f} | – | – |",
    ]
    for use, label in (
        ("ideal", "+ LLM ideal-item line"),
        ("judge", "+ LLM yes/no rerank of top 20"),
    ):
        p = r["paired"][f"{use}:dedup_R@10"]
        lines.append(
            f"| {label} | {s[f'{use}:dedup_R@10']:.3f} | {s[f'{use}:dedup_R@50']:.3f} | "
            f"{p['diff']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}] over {p['dialogues']} dialogues "
            f"| {r['median_seconds'].get(use, 0):.2f} |"
        )
    lines += [
        "",
        "Examples (the seeker's last messages, the LLM's ideal line, the judged top 5):",
        "",
    ]
    for e in r["examples"]:
        lines.append(f"- said {e['said']!r} → ideal {e['ideal']!r}; judged top 5: {e['judge_top']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
