"""``serve``: the models of some checkpoints on a local web page and a JSON API (``aigc_np.serve``).

    python -m aigc_np serve runs/vae runs/cgan/best.npz runs/names --port 8000

A run folder means its best.npz. Every file is loaded and checked at start,
so a bad one stops the command before anything is served. It listens on
127.0.0.1 (this machine only) unless --host says otherwise; Ctrl-C (or
SIGTERM, as a service manager sends) stops it.
"""
from __future__ import annotations

import argparse
import signal
import sys

from .options import Option

__all__ = ["OPTIONS", "add_arguments", "run"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..65535, got {text!r}")
    return value


OPTIONS = [
    Option("--host", ("serve",), "the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: "
                                 "every network the machine is on)", argparse={"metavar": "ADDRESS"}),
    Option("--port", ("serve",), "the TCP port (default 8000; 0: any free port)", argparse={"type": port}),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT_OR_RUN_DIR",
                        help="checkpoint files or run folders (a folder means its best.npz)")


def _stop(signum, frame):
    raise KeyboardInterrupt   # SIGTERM stops the server as Ctrl-C does


def run(args) -> int:
    from ..serve import load_served, make_server
    from ..threads import apply_threads

    print(apply_threads(args.threads))
    models = load_served(args.checkpoints)          # every file checked before anything listens
    host = args.host or "127.0.0.1"
    if host not in LOCAL_HOSTS:
        print(f"warning: --host {host}: other machines can reach this server; it has no login, so anyone who "
              "can reach it can use its models", file=sys.stderr)
    try:
        server = make_server(models, host, 8000 if args.port is None else args.port)
    except OSError as e:
        raise ValueError(f"--host {host} --port {args.port}: cannot listen there ({e.strerror or e})") from None
    for m in models:
        print(f"  {m.index}: {m.name} ({m.kind.name}, step {m.meta['step']}) from {m.path}")
    # Both set here, before the line that says it serves: a shell starts a background job with
    # SIGINT ignored, and Python then leaves Ctrl-C ignored too.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(f"serving {len(models)} model(s) on {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
    return 0
