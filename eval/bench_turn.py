"""What a person waits for in a turn, per LLM, explanation mode and prefix cache: the cards, the
first explanation, all five.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_turn.py [--out eval/reports/turn]
        [--configs 0.5b:facts:needed:4,0.5b:facts:always:4,...]

Each configuration is ``model:explain_mode:read_when:prefix_cache[:decode]`` (model ``0.5b`` /
``1.5b`` stands for ``qwen2.5-coder-0.5b`` / ``-1.5b``; ``decode`` is ``int8``, the default, for
``llm.int8_decode``, or ``dense``). For each, the movies catalog is opened as the app
opens it (:meth:`ConvRec.warm_up`, then one throwaway dialogue in another session), and a
five-message dialogue typed as a person would is sent through :meth:`ConvRec.chat_stream`, the
path the app streams into its cards. Per turn: seconds from sending to the cards (the
``recommendations`` event: understanding, with or without the LLM reading, and ranking), and
from the cards to the first and to the last explanation line. Every LLM call is recorded and
replayed afterwards as a bare ``model.generate`` of the same prompt and the same number of new
tokens with no prefix cache (eval/bench_pipeline.py's replay), so each wait is also a ratio to
bare decoding in the same run. Medians over the turns; the machine and its load are recorded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import Recording, bare_seconds

from convrec import ConvRec, load_settings
from convrec.backends.transformers_llm import TransformersLLM
from convrec.evaluation.provenance import code_version
from convrec.sessions import SessionStore

log = logging.getLogger("eval.bench_turn")
MODELS = {"0.5b": "qwen2.5-coder-0.5b", "1.5b": "qwen2.5-coder-1.5b"}
DIALOGUE = (
    "a funny animated movie for the family",
    "I loved Inception, something clever like that",
    "something under 100 minutes",
    "nothing older than 1995",
    "what about something darker and a bit scary",
)
WARM = ("a good war film", "something more recent")
DEFAULT_CONFIGS = (
    "0.5b:facts:needed:4",  # the shipped default
    "0.5b:facts:always:4",  # the LLM reads every message, with the prefix cache
    "0.5b:facts:always:4:dense",  # ... decoding with the original weights
    "0.5b:facts:always:0",  # ... without the prefix cache
    "0.5b:items:always:4",  # the LLM also writes the explanations
    "0.5b:items:always:4:dense",
    "1.5b:facts:always:4",
    "1.5b:items:always:4",
)
GOALS = {"cards_s": 3.0, "first_s": 2.5, "all_s": 8.0}


@dataclass(frozen=True)
class Config:
    model: str
    mode: str
    read_when: str
    prefix_cache: int
    int8_decode: bool = True

    @classmethod
    def parse(cls, text: str) -> Config:
        model, mode, read_when, cache, *decode = text.split(":")
        if decode not in ([], ["int8"], ["dense"]):
            raise SystemExit(f"{text!r}: the fifth field is int8 or dense.")
        return cls(MODELS.get(model, model), mode, read_when, int(cache), decode != ["dense"])

    @property
    def label(self) -> str:
        short = {v: k for k, v in MODELS.items()}.get(self.model, self.model)
        decode = "int8" if self.int8_decode else "dense"
        return f"{short} {self.mode} read:{self.read_when} cache:{self.prefix_cache} {decode}"


def run_config(cfg: Config, llms: dict[tuple[str, bool], TransformersLLM]) -> dict[str, Any]:
    settings = load_settings(
        llm={"model": cfg.model, "explain_mode": cfg.mode, "read_when": cfg.read_when,
             "int8_decode": cfg.int8_decode}
    )  # fmt: skip
    key = (cfg.model, cfg.int8_decode)
    if key not in llms:
        llms.clear()  # one model in memory at a time
        llms[key] = TransformersLLM(cfg.model, settings)
    llm = llms[key]
    llm.prefixes = None  # a fresh cache per configuration, or none
    if cfg.prefix_cache:
        from convrec.backends.transformers_llm import PrefixCache

        llm.prefixes = PrefixCache(cfg.prefix_cache)
    recording = Recording(llm)
    sessions = SessionStore(Path(tempfile.mkdtemp(prefix="convrec-bench-turn-")) / "sessions.db")
    rec = ConvRec.from_config(settings=settings, catalog="movies", llm=recording, sessions=sessions)
    rec.warm_up()
    warm = f"bench-warm-{uuid.uuid4().hex[:8]}"
    for message in WARM:
        rec.chat(message, warm)
    sid = f"bench-{uuid.uuid4().hex[:8]}"
    turns = []
    for message in DIALOGUE:
        first_call = len(recording.calls)
        sent = time.perf_counter()
        cards = first = last = None
        n_calls_before_cards = 0
        titles: list[str] = []
        lines: list[str] = []
        for event in rec.chat_stream(message, sid):
            now = time.perf_counter()
            if event.kind == "recommendations":
                cards, n_calls_before_cards = now, len(recording.calls) - first_call
                titles = [r.title for r in event.recommendations]
            elif event.kind == "text" and event.text.split(".", 1)[0].isdigit():
                first = first or now  # an item's line, "1. Title: why"
                last = now
                lines.append(event.text.strip())
        calls = recording.calls[first_call:]
        reading, explaining = calls[:n_calls_before_cards], calls[n_calls_before_cards:]
        turns.append({
            "message": message,
            "cards_s": (cards or sent) - sent,
            "first_s": (first - cards) if first and cards else None,
            "all_s": (last - cards) if last and cards else None,
            "llm_read": bool(reading),
            "read_tokens": sum(c["tokens"] for c in reading),
            "explain_calls": len(explaining),
            "explain_tokens": sum(c["tokens"] for c in explaining),
            "titles": titles,
            "lines": lines,
            "_reading": reading,
            "_explaining": explaining,
        })  # fmt: skip
        t = turns[-1]
        log.info("%s | %r: cards %.2f s, first %s, all %s", cfg.label, message, t["cards_s"],
                 t["first_s"], t["all_s"])  # fmt: skip
    # replay every call bare (no prefix cache: a fresh prompt each time), after the dialogue
    cache, llm.prefixes = llm.prefixes, None
    for t in turns:
        reading, explaining = t.pop("_reading"), t.pop("_explaining")
        t["bare_read_s"] = sum(bare_seconds(llm, c) for c in reading) if reading else None
        t["bare_explain_s"] = sum(bare_seconds(llm, c) for c in explaining) if explaining else None
    llm.prefixes = cache
    return {"config": cfg.__dict__, "label": cfg.label, "turns": turns}


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return float(statistics.median(got)) if got else None


def summary(result: dict[str, Any]) -> dict[str, Any]:
    turns = result["turns"]
    read = [t for t in turns if t["llm_read"]]
    out: dict[str, Any] = {
        "cards_s": _median([t["cards_s"] for t in turns]),
        "cards_when_read_s": _median([t["cards_s"] for t in read]),
        "llm_reads": len(read),
        "first_s": _median([t["first_s"] for t in turns]),
        "all_s": _median([t["all_s"] for t in turns]),
        "bare_read_s": _median([t["bare_read_s"] for t in read]),
        "bare_explain_s": _median([t["bare_explain_s"] for t in turns]),
    }
    ratios = [t["cards_s"] / t["bare_read_s"] for t in read if t["bare_read_s"]]
    out["cards_vs_bare_read"] = _median(ratios)
    ratios = [t["all_s"] / t["bare_explain_s"] for t in turns if t["bare_explain_s"]]
    out["all_vs_bare_explain"] = _median(ratios)
    return out


def _fmt(v: float | None, unit: str = " s", digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}{unit}"


def write(results: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "commit": code_version(),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "dialogue": DIALOGUE,
        "goals": GOALS,
    }
    for r in results:
        r["summary"] = summary(r)
    (out / "bench_turn.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False) + "\n"
    )
    md = [
        "# What a person waits for in a turn (movies, medians over the 5 turns)",
        "",
        f"Commit: {meta['commit']}. {meta['cpus']} CPUs; load average at the end "
        f"{meta['load_average_at_end'][0]:.1f}. Command: `HF_HUB_OFFLINE=1 .venv/bin/python "
        "eval/bench_turn.py` (see its docstring). Waits are seconds from sending the message to "
        "the cards, and from the cards to the first and to the last explanation line, through "
        '`ConvRec.chat_stream` (the app\'s path). "÷ bare": the wait divided by a bare '
        "`model.generate` of the same prompts and new tokens without the prefix cache, in the "
        "same run (below 1: faster than bare decoding).",
        "",
        "| configuration | LLM reads | cards | cards when the LLM read | ÷ bare read | first "
        "explanation | all five | all ÷ bare |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["summary"]
        md.append(
            f"| {r['label']} | {s['llm_reads']}/{len(r['turns'])} | {_fmt(s['cards_s'])} | "
            f"{_fmt(s['cards_when_read_s'])} | {_fmt(s['cards_vs_bare_read'], '')} | "
            f"{_fmt(s['first_s'])} | {_fmt(s['all_s'])} | "
            f"{_fmt(s['all_vs_bare_explain'], '')} |"
        )
    md += ["", f"Goals: cards ≤ {GOALS['cards_s']} s when the LLM reads the message; first "
           f"explanation ≤ {GOALS['first_s']} s and all five ≤ {GOALS['all_s']} s after the "
           "cards.", ""]  # fmt: skip
    for r in results:
        md += [f"## {r['label']}", "", "| message | cards | first | all | read tokens | "
               "explanation tokens | titles |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for t in r["turns"]:
            md.append(
                f"| {t['message']} | {_fmt(t['cards_s'])} | {_fmt(t['first_s'])} | "
                f"{_fmt(t['all_s'])} | {t['read_tokens']} | {t['explain_tokens']} | "
                f"{'; '.join(t['titles'])} |"
            )
        md += ["", "Explanations of the second turn:", ""]
        md += [f"- {line}" for line in r["turns"][1]["lines"]] + [""]
    (out / "bench_turn.md").write_text("\n".join(md) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("eval/reports/turn"))
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    configs = [Config.parse(c) for c in args.configs.split(",") if c]
    llms: dict[tuple[str, bool], TransformersLLM] = {}
    results = []
    for cfg in configs:
        results.append(run_config(cfg, llms))
        write(results, args.out)  # after each configuration: a long run keeps what it measured
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
