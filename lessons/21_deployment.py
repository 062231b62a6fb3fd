"""Lesson 21: deployment -- from a checkpoint to a served model, and what changes when strangers send requests.

The pipeline of the article ends with deployment: a trained model answering
requests. Everything before it ran on our own inputs; a server runs on
other people's. This lesson trains a VAE with a 2-D latent and a small
names GPT (briefly), serves both with ``aigc_np.serve`` (the server behind
``python -m aigc_np serve``), calls its JSON API as any script could, sends
it the bad requests a careless or hostile client might, and measures the
latency a user sees and the throughput of several clients at once.

Expected result: every bad request refused with a 4xx and a JSON error
naming the field, the server still serving; a VAE grid of 16 in a few
milliseconds at the median (3.1 ms, p95 13.5 ms), the names GPT's 200
characters in a quarter of a second, about 240 requests/s from 8 clients of
the VAE. Time: 76 s on a loaded 2-core machine, most of it training;
--quick: about 15 s.

Run:  python lessons/21_deployment.py [--quick] [--requests 50] [--clients 8] [--out out/21_deployment]
"""
# %% [markdown]
# ## 1. From a checkpoint to a served model
# A run folder's best.npz holds everything needed to rebuild the model: the
# kind, its config, the weights (docs/cli.md, "checkpoints are untrusted
# input"). A server loads each file once, at start, through the same checks
# as `sample`, so a bad file stops it before it listens. Here the command
# line trains the two models into our folder; `load_served` loads them.

# %%
import base64
import io
import json
import os
import socket
import threading
import time
import urllib.request

import matplotlib.image
import numpy as np

from aigc_np.cli import main as aigc_np_command
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, print_result
from aigc_np.plotting import plt, save_figure, save_image_grid
from aigc_np.serve import LIMITS, MAX_BODY, load_served, make_server
from aigc_np.tools.serve_bench import latency, post, throughput

parser = lesson_parser(__doc__, out="out/21_deployment")
parser.add_argument("--requests", type=int, default=50, help="requests timed one at a time per model")
parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the throughput run")
args = parse_lesson_args(parser)
lesson_start = time.perf_counter()
quick = ["--quick"] if args.quick else []
runs = {"vae": os.path.join(args.out, "vae"), "names": os.path.join(args.out, "names")}
assert aigc_np_command(["train", "vae", "--recipe", "demo", "--latent-dim", "2", "--out", runs["vae"], "--overwrite",
                        "--seed", str(args.seed), *quick]) == 0
assert aigc_np_command(["train", "gpt", "--corpus", "names", "--out", runs["names"], "--overwrite",
                        "--seed", str(args.seed), *(quick or ["--steps", "600"])]) == 0
models = load_served([runs["vae"], runs["names"]])   # a run folder means its best.npz
for m in models:
    print(f"serving {m.index}: {m.name} ({m.kind.name}, step {m.meta['step']}), modes {list(m.modes())}")

# %% [markdown]
# ## 2. What the server validates, and why
# Every field of a request has a type and a range, checked before anything
# is computed. The ranges are not about correctness but about cost and
# safety: `n` images cost n decoder passes, a diffusion request n x steps
# U-Net calls, a text request `length` model calls. Without a bound, one
# request of n = 10^9 allocates gigabytes and stops the server for everyone.
# The checks run before allocation, and a bad field is a 400 that names the
# field, the range and the value received, so the client can fix it. Beyond
# the fields: the body's size is read from its header before the body
# itself; only the routes `/`, `/api/models` and `/api/generate` exist, so
# no path from a request ever reaches the file system; and a model is named
# by its name or index, never by a path.

# %%
print(f"bounds: body {MAX_BODY} bytes; " + ", ".join(f"{k} {v}" for k, v in LIMITS.items()))
for m in models:
    print(f"{m.name}: " + "; ".join(f"{k}: {f.allowed()}" for k, f in m.fields().items()))

# %% [markdown]
# ## 3. Calling the API, as a script or the page does
# The server runs in a thread of this process on a free port (0: the
# system picks one) of 127.0.0.1, this machine only; `python -m aigc_np
# serve` runs the same server in the foreground. `GET /api/models` describes each model and its fields;
# `POST /api/generate` returns images as PNG data URLs, which a page shows
# in an `<img>` without another request, and text as a string. The same
# seed gives the same answer, from the request's own random generator.

# %%


def images_of(answer: dict) -> np.ndarray:
    """The answer's PNG data URLs decoded to (N, 28, 28) in [0, 1]."""
    return np.stack([matplotlib.image.imread(io.BytesIO(base64.b64decode(u.split(",", 1)[1])))
                     for u in answer["images"]])


def raw_request(url: str, request: bytes) -> tuple:
    """Bytes straight to the socket, as a hostile client sends them: (status, the JSON error)."""
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        data = b"".join(iter(lambda: s.recv(65536), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


server = make_server(models, quiet=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = server.url
listed = json.loads(urllib.request.urlopen(url + "api/models").read())["models"]
print(f"GET /api/models: {[(m['name'], m['kind']) for m in listed]}")
grid = post(url, {"model": "vae", "n": 16, "seed": args.seed})
walk = post(url, {"model": "vae", "mode": "walk", "seed": 1, "seed2": 2, "n": 8})
plane = post(url, {"model": "vae", "mode": "decode", "z": [[u, v] for v in (2, 0, -2) for u in (-2, 0, 2)]})
names = post(url, {"model": "names", "prompt": ".", "length": 120, "temperature": 0.8, "seed": args.seed})
print(f"a grid of {grid['shape'][0]} in {grid['seconds'] * 1e3:.1f} ms on the server; names: "
      f"{names['text'].strip('.').replace('.', ', ')[:100]}")
for name, answer, nrow in (("grid", grid, 4), ("walk", walk, 8), ("plane", plane, 3)):
    print("saved", save_image_grid(images_of(answer), os.path.join(args.out, f"served_{name}.png"), nrow=nrow,
                                   value_range=(0, 1), title=f"served vae: {name}"))

# %% [markdown]
# ## 4. What the server refuses
# Each of these would, unchecked, cost memory, leak a file, or end in a
# traceback: the server answers each with a 4xx and a one-line JSON
# error, and goes on serving.

# %%
def json_post(body: bytes, content_type="application/json") -> bytes:
    return (f"POST /api/generate HTTP/1.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


bad = {"n far too large": json_post(b'{"model": "vae", "n": 1000000000}'),
       "a label for an unconditional model": json_post(b'{"model": "vae", "label": 7}'),
       "a prompt the vocabulary lacks": json_post(b'{"model": "names", "prompt": "ROMEO:"}'),
       "a temperature of 1e9": json_post(b'{"model": "names", "temperature": 1e9}'),
       "a model by its path": json_post(b'{"model": "../../etc/passwd"}'),
       "malformed JSON": json_post(b'{"model": "vae", "n": '),
       "NaN, which JSON has not": json_post(b'{"model": "vae", "n": NaN}'),
       "not JSON at all": json_post(b"model=vae", "application/x-www-form-urlencoded"),
       "a body of 1 GB, announced": b"POST /api/generate HTTP/1.1\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: 1000000000\r\n\r\n",
       "path traversal, encoded": b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\r\n",
       "the wrong method": b"DELETE /api/models HTTP/1.1\r\n\r\n"}
refused = 0
for what, request in bad.items():
    status, error = raw_request(url, request)
    refused += 400 <= status < 500
    print(f"  {what:<36} {status}  {error[:90]}")
alive = post(url, {"model": "vae", "n": 1})["shape"] == [1, 28, 28]
print(f"{refused} of {len(bad)} refused with a 4xx; the server still serves: {alive}")

# %% [markdown]
# ## 5. Measuring latency
# A user waits for one request: its latency. The median (p50) says what
# is typical, the 95th percentile (p95) what one request in twenty
# suffers; a server is judged by the second. We time each model one
# request at a time, as a client sees it (HTTP, JSON and PNG included),
# then 8 clients at once. A model serves one request at a time (its
# layers keep their forward pass's inputs in themselves; one lock per
# model keeps two threads out of each other's), so 8 clients of one model
# queue: throughput stays that of one client, and each waits its turn.

# %%
n_requests = 10 if args.quick else args.requests
timings = {"vae grid of 16": latency(url, {"model": "vae", "n": 16}, n_requests),
           "names 200 characters": latency(url, {"model": "names", "prompt": ".", "length": 200},
                                            max(3, n_requests // 5))}
for what, t in timings.items():
    print(f"  {what:<22} p50 {t['p50_s'] * 1e3:8.1f} ms   p95 {t['p95_s'] * 1e3:8.1f} ms   ({t['requests']} requests)")
busy = throughput(url, [{"model": "vae", "n": 16}], clients=args.clients, seconds=2 if args.quick else 10)
print(f"{args.clients} clients of the vae: {busy['requests_per_s']:.1f} requests/s, {busy['failed']} failed; "
      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
server.shutdown()
server.server_close()

fig, ax = plt.subplots(figsize=(6, 3.2))
cases = list(timings)
ax.bar(np.arange(2) - 0.2, [timings[k]["p50_s"] * 1e3 for k in cases], 0.4, label="p50")
ax.bar(np.arange(2) + 0.2, [timings[k]["p95_s"] * 1e3 for k in cases], 0.4, label="p95")
ax.set_xticks(range(2), cases)
ax.set_yscale("log")
ax.set_ylabel("ms per request (log scale)")
ax.set_title("latency as a client sees it")
ax.legend()
print("saved", save_figure(fig, os.path.join(args.out, "latency.png")))
v, g = timings["vae grid of 16"], timings["names 200 characters"]
print_result(args, "21", f"{refused}/{len(bad)} bad requests refused with a 4xx, server alive: {alive}; vae grid of 16 "
             f"p50 {v['p50_s'] * 1e3:.1f} ms, p95 {v['p95_s'] * 1e3:.1f} ms; names GPT 200 characters p50 "
             f"{g['p50_s']:.2f} s; {args.clients} clients of the vae {busy['requests_per_s']:.0f} requests/s "
             f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); "
             f"{time.perf_counter() - lesson_start:.0f} s for the lesson", "python lessons/21_deployment.py")

# %% [markdown]
# ## Summary
# * Deploying a model is loading its checkpoint once, through the same
#   checks as any untrusted file, and answering requests with it.
# * Every field a client sends is bounded before it is used; a bad one is a
#   400 that names it. Routes are fixed, so no request names a file.
# * Latency is measured as a user sees it, at the median and the 95th
#   percentile; one lock per model makes concurrent requests correct, and
#   makes them queue.
#
# ## Suggested extensions
# 1. Serve the model with two copies and a lock each (a pool): does the
#    throughput of 8 clients double on 2 cores? What does it cost in memory?
# 2. Batch requests: collect those that arrive within 10 ms and decode them
#    in one pass. What happens to p50 and p95?
# 3. `python -m aigc_np serve out/demo/*/ ` and open the page: drag the point
#    across the 2-D plane of the conditional VAE.
