"""``python -m aigc_np.tools.serve_bench [CKPT_OR_RUN_DIR ...]``: how fast does ``aigc_np serve`` answer?

For each model it sends the page's default request (latent kinds: a grid of
16; diffusion kinds: 8 images at the checkpoint's DDIM steps; text kinds:
200 characters), one at a time, and reports the latency's median (p50) and
95th percentile (p95) as a client sees it (HTTP, JSON and PNG encoding
included); then 8 clients at once, each sending its next request as soon
as the last is answered, and the requests served per second. Requests to
one model queue on its lock (``aigc_np/serve/models.py``), so 8 clients of
one model measure how well that model alone is used; a last run spreads the
8 clients over every model.

Without checkpoints it serves one model of each kind at the table's default
config, untrained (a request costs what a trained model's costs: the same
products of the same shapes). Nothing here is asserted: the figures vary
with the machine and its load, printed beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import urllib.request

import numpy as np

__all__ = ["post", "latency", "throughput", "default_checkpoints", "main"]


def post(url: str, body: dict, timeout: float = 300) -> dict:
    """One POST /api/generate; the parsed answer (an HTTP error raises)."""
    request = urllib.request.Request(url + "api/generate", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read())


def latency(url: str, body: dict, requests: int, max_seconds: float = 30.0) -> dict:
    """Seconds per request, one at a time (after one warm-up): p50, p95 and how many were timed
    (``requests``, or fewer if ``max_seconds`` runs out first; at least 3)."""
    post(url, body)
    times, start = [], time.perf_counter()
    while len(times) < requests and (len(times) < 3 or time.perf_counter() - start < max_seconds):
        t = time.perf_counter()
        post(url, {**body, "seed": len(times)})
        times.append(time.perf_counter() - t)
    return {"p50_s": float(np.percentile(times, 50)), "p95_s": float(np.percentile(times, 95)),
            "requests": len(times)}


def throughput(url: str, bodies: list, clients: int = 8, seconds: float = 10.0) -> dict:
    """``clients`` threads, client i sending bodies[i % len(bodies)] back to back for ``seconds``:
    requests answered per second, and how many failed."""
    done, failed, stop = [0] * clients, [0] * clients, time.perf_counter() + seconds

    def client(i):
        while time.perf_counter() < stop:
            try:
                post(url, {**bodies[i % len(bodies)], "seed": i * 100_000 + done[i]})
                done[i] += 1
            except OSError:
                failed[i] += 1
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"requests_per_s": sum(done) / elapsed, "requests": sum(done), "failed": sum(failed),
            "seconds": elapsed, "clients": clients}


def default_checkpoints(folder: str) -> list:
    """One untrained checkpoint of each kind at its default config, in ``folder`` (text: the names vocabulary)."""
    from ..checkpoint import save_checkpoint
    from ..kinds import KINDS, build_model
    from ..text.data import load_corpus

    vocab = load_corpus("names").vocab.chars
    paths = []
    for name in KINDS:
        config = {"vocab": vocab, "corpus": "names"} if KINDS[name].family.name == "text" else {}
        path = os.path.join(folder, name, "best.npz")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_checkpoint(build_model(name, config, np.random.default_rng(0)), path)
        paths.append(path)
    return paths


def default_request(described: dict) -> dict:
    """The request the page sends first: every field of mode "samples" at its default."""
    fields = described["fields"]
    return {"model": described["name"], **{k: fields[k]["default"] for k in described["modes"]["samples"]}}


def main(argv=None) -> int:
    from ..serve import load_served, running
    from ..threads import apply_threads

    parser = argparse.ArgumentParser(prog="python -m aigc_np.tools.serve_bench", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", help="checkpoints or run folders (default: every kind, untrained)")
    parser.add_argument("--requests", type=int, default=30, help="requests timed one at a time per model")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="stop timing a model after this long")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the throughput runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--threads", default="auto", help="BLAS threads (auto: 1 on a busy machine, else all)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    print(apply_threads(args.threads))
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        models = load_served(args.checkpoints or default_checkpoints(folder))
        with running(models) as server:
            described = json.loads(urllib.request.urlopen(server.url + "api/models").read())["models"]
            rows = []
            print(f"{'model':<10}{'kind':<9}{'request':<44}{'p50 ms':>9}{'p95 ms':>9}{'n':>4}"
                  f"{f'req/s, {args.clients} clients':>22}")
            for m in described:
                body = default_request(m)
                shown = ", ".join(f"{k}={v!r}" for k, v in body.items() if k not in ("model", "seed", "prompt"))
                row = {"model": m["name"], "kind": m["kind"], "request": body,
                       **latency(server.url, body, args.requests, args.max_seconds),
                       "one_model": throughput(server.url, [body], args.clients, args.seconds)}
                rows.append(row)
                print(f"{m['name']:<10}{m['kind']:<9}{shown[:43]:<44}"
                      f"{row['p50_s'] * 1e3:>9.1f}{row['p95_s'] * 1e3:>9.1f}"
                      f"{row['requests']:>4}{row['one_model']['requests_per_s']:>22.1f}", flush=True)
            mixed = throughput(server.url, [default_request(m) for m in described], args.clients, args.seconds)
    result = {"load_before": load, "load_after": os.getloadavg(), "cpus": os.cpu_count(), "models": rows,
              "mixed": mixed}
    print(f"{args.clients} clients spread over the {len(rows)} models: {mixed['requests_per_s']:.1f} requests/s "
          f"({mixed['requests']} in {mixed['seconds']:.1f} s, {mixed['failed']} failed)")
    print(f"load average (1, 5, 15 min) before {tuple(round(x, 2) for x in load)}, after "
          f"{tuple(round(x, 2) for x in result['load_after'])}, on {os.cpu_count()} cores")
    if args.json:
        from ..io import atomic_write
        with atomic_write(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
