"""How fast the LLM reads a message, per runtime, in one run: the understanding prompts of a
typed movies dialogue replayed through each reader.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_reader.py [--out eval/reports/reader]

The dialogue of eval/bench_turn.py is sent through :meth:`ConvRec.chat` with the 0.5B model
reading every message (``llm.read_when = "always"``); its understanding prompts (JSON-schema
constrained) are recorded. Each reader then answers the same prompts in the same order, after one
warm-up prompt, keeping what it keeps between calls in the product:

- ``transformers dense``: ``TransformersLLM`` with the prefix cache, decoding with the weights it
  loaded (``llm.int8_decode = false``), in its JSON decoding loop;
- ``transformers int8, generate()``: the same with int8 decoding copies, through transformers'
  ``generate`` with xgrammar's logits processor (the JSON path before 35a5bd7);
- ``transformers int8``: int8 copies and ``TransformersLLM``'s own JSON decoding loop (the
  default: the grammar's forced opening read with the prompt, no end-of-turn step);
- ``llama.cpp``: llama-cpp-python in-process on the packaged Q4_K_M GGUF (the file the
  transformers weights were converted from), 2 threads, the schema as a llama.cpp grammar; it
  reuses the beginning its previous prompt shares with the next one.

Per prompt: seconds, new tokens and the answer; medians, each reader's median as a ratio to the
dense reader's, and how many answers are the dense reader's answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import Recording
from bench_turn import DIALOGUE, WARM

from convrec import ConvRec, load_settings
from convrec.backends.transformers_llm import TransformersLLM
from convrec.evaluation.provenance import code_version
from convrec.sessions import SessionStore

log = logging.getLogger("eval.bench_reader")
MODEL = "qwen2.5-coder-0.5b"


def record(settings: Any) -> list[dict[str, Any]]:
    """The understanding prompts of the warm-up and the typed dialogue (warm-up first)."""
    recorder = Recording(TransformersLLM(MODEL, settings))
    sessions = SessionStore(Path(tempfile.mkdtemp(prefix="convrec-bench-reader-")) / "s.db")
    rec = ConvRec.from_config(settings=settings, catalog="movies", llm=recorder, sessions=sessions)
    sid = f"bench-{uuid.uuid4().hex[:8]}"
    for message in (*WARM[:1], *DIALOGUE):
        rec.chat(message, sid)
    return [c for c in recorder.calls if c.get("schema") is not None]


Reader = Callable[[dict[str, Any]], tuple[str, int]]


def transformers_reader(int8: bool, loop: bool = True) -> Reader:
    """``TransformersLLM.generate`` (its JSON decoding loop), or with ``loop=False`` transformers'
    ``generate`` with xgrammar's logits processor (the path before 35a5bd7), same prefix cache."""
    llm = TransformersLLM(MODEL, load_settings(llm={"model": MODEL, "int8_decode": int8}))

    def count(text: str) -> int:
        return len(llm.tokenizer(text, add_special_tokens=False)["input_ids"])

    def read(p: dict[str, Any]) -> tuple[str, int]:
        out = llm.generate(p["messages"], max_new_tokens=p["max"], json_schema=p["schema"])
        return out, count(out)

    def read_with_generate(p: dict[str, Any]) -> tuple[str, int]:
        import torch
        from xgrammar.contrib.hf import LogitsProcessor

        inputs = llm._inputs(p["messages"])
        kwargs = llm._gen_kwargs(inputs, p["max"])
        kwargs["logits_processor"] = [LogitsProcessor(llm._grammar(p["schema"]))]
        llm._reuse(inputs, kwargs)
        kwargs.update(return_dict_in_generate=True, use_cache=True)
        with torch.inference_mode():
            out = llm.model.generate(**kwargs)
        n = inputs["input_ids"].shape[1]
        llm._keep(out, n)
        text = str(llm.tokenizer.decode(out.sequences[0, n:], skip_special_tokens=True))
        return text, count(text)

    return read if loop else read_with_generate


def llama_cpp_reader(gguf: Path) -> Reader:
    from llama_cpp import Llama, LlamaGrammar

    llm = Llama(model_path=str(gguf), n_ctx=4096, n_threads=2, n_threads_batch=2, verbose=False)
    grammars: dict[str, Any] = {}

    def read(p: dict[str, Any]) -> tuple[str, int]:
        key = json.dumps(p["schema"], sort_keys=True)
        if key not in grammars:
            grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        out = llm.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in p["messages"]],
            temperature=0.0,
            max_tokens=p["max"],
            grammar=grammars[key],
        )
        return str(out["choices"][0]["message"]["content"]), int(out["usage"]["completion_tokens"])

    return read


def run(reader: Reader, prompts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reader(prompts[0])  # warm-up: the first prompt of the recorded warm-up dialogue
    rows = []
    for p in prompts[1:]:
        start = time.perf_counter()
        answer, tokens = reader(p)
        rows.append({"s": time.perf_counter() - start, "tokens": tokens, "answer": answer})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("eval/reports/reader"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings(llm={"model": MODEL, "read_when": "always", "int8_decode": False})
    prompts = record(settings)
    from convrec.models import registry
    from convrec.models.provision import assemble_gguf

    spec = registry.get(MODEL)
    assert isinstance(spec, registry.GGUFSpec)
    results: dict[str, list[dict[str, Any]]] = {}
    results["transformers dense"] = run(transformers_reader(False), prompts)
    results["transformers int8, generate()"] = run(transformers_reader(True, False), prompts)
    results["transformers int8"] = run(transformers_reader(True), prompts)
    gguf = assemble_gguf(spec, settings)  # sha256-verified, in a temporary directory
    try:
        results["llama.cpp"] = run(llama_cpp_reader(gguf), prompts)
    finally:
        shutil.rmtree(gguf.parent, ignore_errors=True)
    write(results, prompts[1:], args.out)
    return 0


def write(
    results: dict[str, list[dict[str, Any]]], prompts: list[dict[str, Any]], out: Path
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    base = results["transformers dense"]
    summary = {}
    for name, rows in results.items():
        med = statistics.median(r["s"] for r in rows)
        summary[name] = {
            "median_s": med,
            "vs_dense": med / statistics.median(r["s"] for r in base),
            "median_tokens": statistics.median(r["tokens"] for r in rows),
            "s_per_token": statistics.median(r["s"] / max(r["tokens"], 1) for r in rows),
            "same_answer_as_dense": sum(
                r["answer"] == b["answer"] for r, b in zip(rows, base, strict=True)
            ),
        }
    meta = {"commit": code_version(), "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(), "model": MODEL,
            "messages": list(DIALOGUE)}  # fmt: skip
    (out / "bench_reader.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "results": results}, indent=2) + "\n"
    )
    n = len(base)
    md = [
        "# How fast the LLM reads a message, per runtime (movies, one run)",
        "",
        f"Commit: {meta['commit']}. {meta['cpus']} CPUs; load average at the end "
        f"{meta['load_average_at_end'][0]:.1f}. Command: `HF_HUB_OFFLINE=1 .venv/bin/python "
        f"eval/bench_reader.py`. {n} understanding prompts of {MODEL} (JSON-schema constrained), "
        "recorded from the typed dialogue, answered by each reader in the same order after one "
        "warm-up prompt. Seconds per prompt include reading the new part of the prompt.",
        "",
        "| reader | median s | ÷ dense | median new tokens | s per new token | answers = dense |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        md.append(
            f"| {name} | {s['median_s']:.2f} | {s['vs_dense']:.2f} | {s['median_tokens']:g} | "
            f"{s['s_per_token']:.3f} | {s['same_answer_as_dense']}/{n} |"
        )
    md += ["", "## Answers", "", "| message | " + " | ".join(results) + " |",
           "|---|" + "---|" * len(results)]  # fmt: skip
    for i, p in enumerate(prompts):
        cells = [f"{results[k][i]['s']:.2f} s `{results[k][i]['answer']}`" for k in results]
        md.append(f"| {p['messages'][-1].content.rsplit('New message:', 1)[-1].strip()} | "
                  + " | ".join(cells) + " |")  # fmt: skip
    (out / "bench_reader.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
