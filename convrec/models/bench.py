"""LLM benchmark: cold and warm load, prefill and decode tokens/s, peak RSS, one subprocess each.

Run it with `convrec bench llm` or `python eval/bench_llm.py`; each measurement that depends on
process state (peak RSS, load from a cold cache) runs in a fresh interpreter
(`python -m convrec.models.bench --worker ...`) and reports one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from convrec.config import Settings, load_settings

# A fixed prompt of a few hundred tokens, like a dialogue turn with retrieved items in it.
_CONTEXT = " ".join(
    f"Item {i}: a phone with a {5 + i % 3}.{i % 10}-inch screen, {4 + i % 5} GB RAM, "
    f"released {2015 + i % 8}."
    for i in range(10)
)
PROMPT: list[tuple[Literal["system", "user"], str]] = [
    ("system", "You recommend products. Answer briefly."),
    ("user", f"{_CONTEXT}\nWrite a long, detailed comparison of these phones, one by one."),
]
JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "best_item": {"type": "integer"},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["best_item", "reasons"],
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def worker_cold(model: str, settings: Settings) -> dict[str, Any]:
    """Provision `model` into an empty temp models dir (assemble, verify, convert), then load it."""
    from convrec.backends.transformers_llm import TransformersLLM
    from convrec.models import ensure

    with tempfile.TemporaryDirectory(prefix="convrec-bench-") as tmp:
        cold = settings.model_copy(update={"models_dir": tmp})
        start = time.perf_counter()
        ensure(model, cold)
        provision_s = time.perf_counter() - start
        llm = TransformersLLM(model, cold)
        return {"provision_s": provision_s, "load_after_s": llm.load_seconds, "rss_mb": _rss_mb()}


def worker_warm(model: str, settings: Settings, runs: int, new_tokens: int) -> dict[str, Any]:
    """Load from the cache, then time prefill and decode, ours against a bare model.generate with
    the same inputs and the same number of new tokens (forced with min_new_tokens)."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    from convrec.backends.transformers_llm import TransformersLLM
    from convrec.types import Message

    class Stamps(BaseStreamer):
        """Wall-clock time of each generated token (the first put() is the prompt)."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value: Any) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    llm = TransformersLLM(model, settings)
    messages = [Message(role, text) for role, text in PROMPT]
    inputs = llm._inputs(messages)
    n_prompt = int(inputs["input_ids"].shape[1])
    bare_kw = {**inputs, "do_sample": False, "pad_token_id": llm.tokenizer.eos_token_id}

    def n_tokens(text: str) -> int:
        return len(llm.tokenizer(text, add_special_tokens=False)["input_ids"])

    def bare(n: int, streamer: Any = None) -> None:
        with torch.inference_mode():
            llm.model.generate(**bare_kw, max_new_tokens=n, min_new_tokens=n, streamer=streamer)

    def prefill() -> None:
        with torch.inference_mode():
            llm.model(**inputs, use_cache=True)

    def bare_decode() -> float:
        stamps = Stamps()
        bare(new_tokens, stamps)
        ticks = stamps.times[1:]  # generated tokens only
        return (len(ticks) - 1) / (ticks[-1] - ticks[0])

    def stream_decode() -> tuple[float, int]:
        ticks, pieces = [], []
        for piece in llm.stream(messages, max_new_tokens=new_tokens):
            ticks.append(time.perf_counter())
            pieces.append(piece)
        after_first = n_tokens("".join(pieces)) - n_tokens(pieces[0])
        return after_first / max(ticks[-1] - ticks[0], 1e-9), n_tokens("".join(pieces))

    llm.generate(messages, max_new_tokens=2)  # warm-up: first call allocates and picks kernels
    prefill_s = statistics.median(_timed(prefill, runs)[0])
    bare_rate = statistics.median(bare_decode() for _ in range(runs))
    stream_rate = statistics.median(stream_decode()[0] for _ in range(runs))
    ours, text = _timed(lambda: llm.generate(messages, max_new_tokens=new_tokens), runs)
    n_ours = n_tokens(text)
    bare_ours = _timed(lambda: bare(n_ours), runs)[0]
    llm.generate(messages, max_new_tokens=2, json_schema=JSON_SCHEMA)  # compile the grammar once
    constrained, jtext = _timed(
        lambda: llm.generate(messages, max_new_tokens=new_tokens, json_schema=JSON_SCHEMA), runs
    )
    n_json = n_tokens(jtext)
    bare_json = _timed(lambda: bare(n_json), runs)[0]
    med = statistics.median
    return {
        "load_s": llm.load_seconds,
        "prompt_tokens": n_prompt,
        "prefill_tok_s": n_prompt / prefill_s,
        "decode_tok_s": stream_rate,  # per-token rate seen by a streaming caller
        "bare_decode_tok_s": bare_rate,
        "generate_tokens": n_ours,
        "generate_vs_bare": med(bare_ours) / med(ours),  # same tokens; < 1 means ours is slower
        "json_tokens": n_json,
        "json_vs_bare": med(bare_json) / med(constrained),
        "threads": torch.get_num_threads(),
        "rss_mb": _rss_mb(),
    }


def _spawn(args: list[str], config: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "convrec.models.bench", *args]
    if config:
        cmd += ["--config", config]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(
    models: Sequence[str], out: Path, *, runs: int, new_tokens: int, config: str | None = None
) -> dict[str, Any]:
    """Benchmark each model (cold, then warm, each in its own process); write JSON and Markdown."""
    rows = []
    for model in models:
        cold = _spawn(["--worker", "cold", "--model", model], config)
        warm = _spawn(
            [
                "--worker",
                "warm",
                "--model",
                model,
                "--runs",
                str(runs),
                "--new-tokens",
                str(new_tokens),
            ],
            config,
        )
        rows.append({"model": model, "cold": cold, "warm": warm})
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": sys.version.split()[0],
        },
        "runs": runs,
        "new_tokens": new_tokens,
        "models": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_llm.json").write_text(json.dumps(report, indent=2))
    (out / "bench_llm.md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    """The README table: medians of `runs` runs; ratios are against a bare model.generate."""
    head = (
        "| model | cold provision s | cold peak RSS MB | warm load s | prefill tok/s | "
        "decode tok/s (stream) | bare decode tok/s | generate ÷ bare | JSON-constrained ÷ bare | "
        "warm peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in report["models"]:
        c, w = row["cold"], row["warm"]
        lines.append(
            f"| {row['model']} | {c['provision_s']:.1f} | {c['rss_mb']:.0f} | {w['load_s']:.1f} | "
            f"{w['prefill_tok_s']:.0f} | {w['decode_tok_s']:.1f} | {w['bare_decode_tok_s']:.1f} | "
            f"{w['generate_vs_bare']:.2f} | {w['json_vs_bare']:.2f} | {w['rss_mb']:.0f} |"
        )
    first = report["models"][0]["warm"]
    note = (
        f"\nMedians of {report['runs']} runs, up to {report['new_tokens']} new tokens, prompt of "
        f"{first['prompt_tokens']} tokens, {first['threads']} torch threads. "
        "Cold = assemble the GGUF from the wheels, verify its sha256, convert to bf16 safetensors "
        "(into a temp dir); warm = verify the cache manifest (sha256) and load. Ratios are "
        "speed relative to a bare `model.generate` on the same inputs and token count, in the "
        "same process (1.00 = no overhead).\n"
    )
    return head + "\n".join(lines) + "\n" + note


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", choices=("cold", "warm"))
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--config")
    parser.add_argument("--out", type=Path, default=Path("eval/out/bench_llm"))
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    models = args.models or ["qwen2.5-coder-0.5b", "smollm2-135m"]
    if args.worker == "cold":
        result = worker_cold(models[0], settings)
    elif args.worker == "warm":
        result = worker_warm(models[0], settings, args.runs, args.new_tokens)
    else:
        result = run(
            models, args.out, runs=args.runs, new_tokens=args.new_tokens, config=args.config
        )
        sys.stdout.write(markdown(result))
        return 0
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
