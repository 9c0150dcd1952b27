"""Load on the real chat app: N concurrent sessions over HTTP on 127.0.0.1, mixing chat turns,
photo uploads ("more like this") and streams the client abandons after the first update.

    HF_HUB_OFFLINE=1 python eval/load.py [--levels 1,4,16] [--seconds 300] [--llm none|settings]
        [--catalog phones] [--out eval/reports/load]

The app runs as `convrec app` in its own process (the settings' models; ``--llm none`` runs it
without the LLM). Each session is one gradio client with its own browser key, waiting up to
CLIENT_TIMEOUT_S for each HTTP request as a browser would (the client's default is 5 s). Per level:
turns, errors, crossed sessions (a reply whose conversation holds a message this session never
sent), p50 and p95 turn latency, and the app's resident memory, sampled every few seconds: at the
start, at the half, at the end and at its peak. Memory is flat when the second half of the last
level adds less than 5%. Writes report.json and report.md to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from convrec import load_settings
from convrec.catalog.layout import open_catalog
from convrec.evaluation.provenance import code_version

log = logging.getLogger("eval.load")
CLIENT_TIMEOUT_S = 120  # per HTTP request of the client (a turn itself may take longer)
REQUESTS = {
    "phones": ["a Sony phone, just show me", "something with a big screen", "at least 3 GB of RAM",
               "a cheaper one", "not Samsung", "a small phone for my dad", "an Android tablet",
               "something recent with a good camera"],
    "movies": ["a funny animated movie for the family", "I loved Inception", "not the first one",
               "a classic western", "an 80s action movie", "something by spielberg",
               "a sad movie that will make me cry", "a space adventure"],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB (Linux /proc)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return round(total, 1)


def _children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(k) for k in kids]
    return out + [c for k in out for c in _children(k)]


class Session(threading.Thread):
    """One visitor: a loop of turns until ``deadline``; records latencies and problems."""

    def __init__(self, url: str, n: int, catalog: str, photos: list[str], deadline: float) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.catalog = url, uuid.uuid4().hex, catalog
        self.photos, self.deadline, self.rng = photos, deadline, random.Random(n)
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.crossed = 0
        self.abandoned = 0
        self.greeting = f"hi, I am visitor {n}"  # every reply must show it, and no other's

    def run(self) -> None:
        from gradio_client import Client, handle_file

        # a browser waits for a busy server; the client's 5-second default would count impatience
        client = Client(self.url, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S})
        first = True
        while time.monotonic() < self.deadline:
            kind = (
                "chat"
                if first
                else self.rng.choices(["chat", "photo", "abandon"], [7, 1.5, 1.5])[0]
            )
            text = self.greeting if first else self.rng.choice(REQUESTS[self.catalog])
            image = handle_file(self.rng.choice(self.photos)) if kind == "photo" else None
            start = time.monotonic()
            try:
                job = client.submit(text, image, self.key, self.catalog, api_name="/chat")
                if kind == "abandon":  # the visitor leaves after the first update
                    while job.status().code.name not in ("ITERATING", "FINISHED"):
                        time.sleep(0.05)
                    job.cancel()
                    self.abandoned += 1
                    continue
                history = job.result(timeout=600)[0]
            except Exception as e:  # every failure is counted and reported, by kind
                self.errors.append(f"{kind}: {type(e).__name__}: {str(e)[:200]}")
                continue
            first = False
            self.latencies.append(time.monotonic() - start)
            said = " | ".join(_text(m) for m in history if m["role"] == "user")
            others = said.replace(self.greeting, "").count("hi, I am visitor")
            self.crossed += bool(others or self.greeting not in said)


def _text(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, list):
        return " ".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content)


class Memory(threading.Thread):
    """Samples the app's resident memory every ``every`` seconds until stopped."""

    def __init__(self, pid: int, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, [rss_mb(pid)]
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.samples.append(rss_mb(self.pid))

    def stop(self) -> list[float]:
        self.done.set()
        self.join()
        return [*self.samples, rss_mb(self.pid)]


def run_level(
    url: str, pid: int, n: int, seconds: float, catalog: str, photos: list[str]
) -> dict[str, Any]:
    memory = Memory(pid)
    memory.start()
    deadline = time.monotonic() + seconds
    sessions = [Session(url, i, catalog, photos, deadline) for i in range(n)]
    for s in sessions:
        s.start()
    for s in sessions:
        s.join(seconds + 900)
    rss = memory.stop()
    lat = sorted(x for s in sessions for x in s.latencies)
    errors = [e for s in sessions for e in s.errors]
    return {
        "sessions": n,
        "seconds": seconds,
        "turns": len(lat),
        "abandoned_streams": sum(s.abandoned for s in sessions),
        "errors": len(errors),
        "error_examples": errors[:5],
        "crossed_sessions": sum(s.crossed for s in sessions),
        "p50_s": round(statistics.median(lat), 3) if lat else None,
        "p95_s": round(lat[int(0.95 * (len(lat) - 1))], 3) if lat else None,
        "rss_mb_start": rss[0],
        "rss_mb_half": rss[len(rss) // 2],
        "rss_mb_end": rss[-1],
        "rss_mb_peak": max(rss),
        "rss_mb_samples": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--catalog", default="phones")
    parser.add_argument("--llm", choices=("settings", "none"), default="settings")
    parser.add_argument("--out", type=Path, default=Path("eval/reports/load"))
    parser.add_argument(
        "--arenas", type=int, default=0, help="MALLOC_ARENA_MAX for the app (0: the app's own)"
    )
    args = parser.parse_args()
    commit = code_version()  # the code the app runs: taken before it starts, not after the run
    settings = load_settings()
    catalog = open_catalog(args.catalog, settings)
    photos = [str(catalog.image_path(it)) for it in catalog.items if it.image_paths][:50]
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    scratch = tempfile.TemporaryDirectory(prefix="convrec-load-")  # the sessions of this run
    env["CONVREC_SESSIONS__PATH"] = str(Path(scratch.name) / "sessions.db")
    if args.arenas:
        env["MALLOC_ARENA_MAX"] = str(args.arenas)
    if args.llm == "none":
        env["CONVREC_LLM__BACKEND"] = "none"
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "convrec.cli",
        "app",
        "--catalog",
        args.catalog,
        "--port",
        str(port),
    ]
    app = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if app.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the app did not start") from None
                time.sleep(1)
        levels = []
        for n in (int(x) for x in args.levels.split(",")):
            log.info("level: %d concurrent sessions for %.0f s", n, args.seconds)
            levels.append(run_level(url, app.pid, n, args.seconds, args.catalog, photos))
            log.info("%s", levels[-1])
    finally:
        app.terminate()
        app.wait(timeout=30)
        scratch.cleanup()
    report = {"commit": commit, "command": " ".join(sys.argv), "catalog": args.catalog,
              "llm": args.llm, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "arenas": args.arenas or None, "levels": levels}  # fmt: skip
    rows = [
        f"| {x['sessions']} | {x['seconds']:.0f} | {x['turns']} | {x['abandoned_streams']} | "
        f"{x['errors']} | {x['crossed_sessions']} | {x['p50_s']} | {x['p95_s']} | "
        f"{x['rss_mb_start']} → {x['rss_mb_half']} → {x['rss_mb_end']} (peak {x['rss_mb_peak']}) |"
        for x in levels
    ]
    last = levels[-1]
    growth = (last["rss_mb_end"] - last["rss_mb_half"]) / last["rss_mb_half"]
    report["second_half_growth"] = round(growth, 4)
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    md = [
        f"# Load on the chat app ({args.catalog}, LLM: {args.llm}), commit {report['commit']}",
        "",
        f"`{report['command']}`, {report['date']}, this 2-core machine.",
        "",
        "| sessions | seconds | turns | abandoned streams | errors | crossed | p50 s | p95 s | "
        "app RSS MB: start → half → end |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Memory over the second half of the last level: {growth:+.1%} "
        f"({'flat' if abs(growth) < 0.05 else 'not flat'}: the bar is 5%).",
    ]
    (args.out / "report.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main()
