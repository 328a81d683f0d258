"""`lexkz serve` benchmark against a live server on 127.0.0.1: warm /api/ask latency with the
extractive generator at 1 and 8 concurrent clients, against the cold `lexkz ask` (a new
process that loads index + models for one question) in the same run, and a 200-request run
at 8 clients in which no request may be lost or fail.

By default it builds (once, into bench/results/serve_index) a small real index: the Labour
Code and the Consumer Protection Law of ../shared/corpus with the bundled MiniLM embedder, or,
when the corpus is absent, the made-up test corpus. `--index DIR` points at any built index.
The server is a real `python -m lexkz.cli serve` process; every loop is bounded in requests
and in time (--max-seconds). Prints a table and writes bench/results/serve.json.
Goal: warm p95 <= 150 ms with the extractive generator on 2 cores.

    python bench/bench_serve.py                      # small index, 100 warm requests per level, 200 at 8 clients
    python bench/bench_serve.py --index .lexkz/index --cold-runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
SMALL_ACTS = ("K1500000414", "Z100000274_")  # Labour Code, Consumer Protection Law
QUESTIONS = [
    "Сколько дней длится ежегодный оплачиваемый трудовой отпуск?",
    "В каком случае работодатель может расторгнуть трудовой договор?",
    "Какова продолжительность испытательного срока при приеме на работу?",
    "Как оплачивается сверхурочная работа?",
    "Какие права имеет потребитель при продаже товара ненадлежащего качества?",
    "Может ли работник отказаться от перевода на другую работу?",
    "Жыл сайынғы ақы төленетін еңбек демалысы қанша күн?",
    "Еңбек шартын жұмыс берушінің бастамасы бойынша қашан бұзуға болады?",
    "Тұтынушының құқықтары қандай?",
    "Какова нормальная продолжительность рабочего времени в неделю?",
]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep)}


def small_index(embedding: str) -> tuple[Path, str]:
    """bench/results/serve_index (built once): two real acts, or the made-up corpus."""
    from index.build import build_index
    from index.config import IndexConfig
    from lexkz.common import default_corpus_dir

    out = RESULTS / "serve_index"
    corpus = default_corpus_dir()
    what = (f"{' + '.join(SMALL_ACTS)} of {corpus}" if corpus and all((corpus / a).is_dir() for a in SMALL_ACTS)
            else "the made-up test corpus (tests/fixture_corpus.py)")
    if (out / "CURRENT").is_file():
        return out, what
    src = RESULTS / "serve_corpus"
    src.mkdir(parents=True, exist_ok=True)
    if what.startswith("the made-up"):
        from tests.fixture_corpus import write_fixture_corpus

        write_fixture_corpus(src)
    else:
        for act in SMALL_ACTS:
            if not (src / act).exists():
                (src / act).symlink_to(corpus / act, target_is_directory=True)
    print(f"building the small index of {what} with {embedding} ...", file=sys.stderr, flush=True)
    build_index(src, out, IndexConfig(embedding=embedding), progress=False)
    return out, what


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def cold_ask(index: Path, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "lexkz.cli", "ask", QUESTIONS[i % len(QUESTIONS)], "--index", str(index)],
                           env=env(), capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"lexkz ask failed: {p.stderr[-2000:]}")
        times.append(time.perf_counter() - t0)
    return times


def start_server(index: Path, port: int, log_path: Path) -> tuple[subprocess.Popen, float]:
    import httpx

    log = open(log_path, "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "lexkz.cli", "serve", "--index", str(index), "--port", str(port)],
                            env={k: v for k, v in env().items() if k != "LEXKZ_API_TOKEN"},
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"lexkz serve exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("lexkz serve did not come up within 600 s")


def load(url: str, clients: int, requests: int, deadline: float, k: int) -> dict:
    """`requests` POST /api/ask spread over `clients` threads (each its own keep-alive client)."""
    import httpx

    lock = threading.Lock()
    counter = {"next": 0}
    lat: list[float] = []
    errors: list[str] = []
    sent = [0]

    def worker():
        with httpx.Client(timeout=60) as c:
            while True:
                with lock:
                    i = counter["next"]
                    if i >= requests or time.monotonic() > deadline:
                        return
                    counter["next"] += 1
                    sent[0] += 1
                t0 = time.perf_counter()
                try:
                    r = c.post(f"{url}/api/ask", json={"question": QUESTIONS[i % len(QUESTIONS)], "k": k})
                    ok = r.status_code == 200 and r.json().get("answer")
                    err = None if ok else f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    err = f"{exc.__class__.__name__}: {exc}"
                dt = time.perf_counter() - t0
                with lock:
                    if err:
                        errors.append(err)
                    else:
                        lat.append(dt)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "requested": requests, "sent": sent[0], "ok": len(lat), "errors": len(errors),
            "lost": sent[0] - len(lat) - len(errors), "error_samples": errors[:5],
            "p50_ms": percentile(lat, 50) * 1000, "p95_ms": percentile(lat, 95) * 1000,
            "max_ms": max(lat) * 1000 if lat else float("nan"), "throughput_rps": len(lat) / wall if wall else 0.0,
            "wall_s": wall}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=None, help="a built index folder (default: the small index, built once)")
    ap.add_argument("--embedding", default="minilm", help="embedder of the small index (default minilm)")
    ap.add_argument("--warm", type=int, default=100, help="warm requests per concurrency level (default 100)")
    ap.add_argument("--total", type=int, default=200, help="requests of the none-lost run at 8 clients (default 200)")
    ap.add_argument("--cold-runs", type=int, default=2, help="cold `lexkz ask` runs (default 2)")
    ap.add_argument("--k", type=int, default=5, help="articles retrieved per question (default 5)")
    ap.add_argument("--max-seconds", type=float, default=300, help="time limit of each request loop (default 300)")
    ap.add_argument("--out", default=str(RESULTS / "serve.json"))
    args = ap.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    index, what = (Path(args.index), f"--index {args.index}") if args.index else small_index(args.embedding)
    from index.store import open_index

    manifest = open_index(index).manifest
    cold = cold_ask(index, args.cold_runs)
    port = free_port()
    proc, startup = start_server(index, port, RESULTS / "serve_server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        rows = []
        for clients in (1, 8):
            load(url, clients, 10, time.monotonic() + 60, args.k)  # warm the threads and caches
            rows.append({"run": f"warm {clients} client{'s' if clients > 1 else ''}",
                         **load(url, clients, args.warm, time.monotonic() + args.max_seconds, args.k)})
        rows.append({"run": f"{args.total} requests, 8 clients",
                     **load(url, 8, args.total, time.monotonic() + args.max_seconds, args.k)})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    cold_s = statistics.median(cold)
    print(f"index: {what}; version {manifest['version']}, {manifest['counts']['articles']} articles, "
          f"{manifest['counts']['passages']} passages, embedding {manifest['embedding']['model']}")
    print(f"cold `lexkz ask` (new process, one question): median {cold_s:.2f} s over {len(cold)} runs "
          f"({', '.join(f'{c:.2f}' for c in cold)}); `lexkz serve` start-up to /healthz: {startup:.2f} s")
    print(f"{'run':28s} {'sent':>5s} {'ok':>5s} {'err':>4s} {'lost':>4s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'req/s':>7s} {'vs cold':>8s}")
    for r in rows:
        print(f"{r['run']:28s} {r['sent']:5d} {r['ok']:5d} {r['errors']:4d} {r['lost']:4d} {r['p50_ms']:8.1f} "
              f"{r['p95_ms']:8.1f} {r['max_ms']:8.1f} {r['throughput_rps']:7.1f} {cold_s * 1000 / r['p50_ms']:7.0f}x")
    full = rows[-1]
    none_lost = full["sent"] == args.total and full["ok"] == args.total
    warm_p95 = {r["clients"]: r["p95_ms"] for r in rows[:2]}
    goal = ", ".join(f"{c} client{'s' if c > 1 else ''} {p:.1f} ms ({'met' if p <= 150 else 'NOT met'})"
                     for c, p in warm_p95.items())
    print(f"{args.total} requests at 8 clients: {'all answered' if none_lost else 'SOME LOST OR FAILED'}; "
          f"warm p95 vs the goal of 150 ms: {goal}")
    out = {"bench": "serve", "index": str(index), "index_what": what, "index_version": manifest["version"],
           "counts": manifest["counts"], "embedding": manifest["embedding"]["model"], "generator": "extractive",
           "k": args.k, "cold_ask_s": cold, "cold_ask_median_s": cold_s, "serve_startup_s": startup, "rows": rows,
           "none_lost": none_lost, "warm_p95_ms": warm_p95, "goal_p95_ms": 150,
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                       "note": "shared with other jobs: timings vary run to run"},
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=2))
    print(f"wrote {args.out}")
    return 0 if none_lost else 1


if __name__ == "__main__":
    sys.exit(main())
