"""What every family's commands share: the usage error, the options every kind reads, and the
checks on --out and --resume that run before anything is trained or written."""
from __future__ import annotations

import os
import stat

from .argtypes import NON_NEGATIVE, POSITIVE, positive_float, threads
from .options import Option

__all__ = ["UsageError", "COMMON", "check_out_dir", "check_out_file", "check_resume"]


class UsageError(ValueError):
    """A command line that cannot work (e.g. --label for an unconditional model): exit code 2."""


COMMON = [
    Option("--recipe", ("train",), "a recipe of the kind (listed below; default: 'default', or for text "
                                   "kinds the recipe named after --corpus if there is one); flags override it",
           argparse={"metavar": "NAME"}),
    Option("--batch-size", ("train",), "examples per step (default: the recipe's)", setting="batch_size",
           argparse={"type": POSITIVE}),
    Option("--lr", ("train",), "the learning rate (peak rate for text kinds; default: the recipe's)",
           setting="lr", argparse={"type": positive_float}),
    Option("--eval-every", ("train",), "score (and maybe write best.npz) every K epochs, or K steps for text "
                                       "kinds (default: the recipe's)", setting="eval_every",
           argparse={"type": POSITIVE, "metavar": "K"}),
    Option("--patience", ("train",), "stop after this many scores without a new best (default: never)",
           argparse={"type": POSITIVE}),
    Option("--quick", ("train",), "a smoke test of a few seconds (tiny run, few scored samples)", setting="quick",
           argparse={"action": "store_true"}),
    Option("--resume", ("train",), "continue the run in --out from its last.npz (give that file)",
           argparse={"metavar": "DIR/last.npz"}),
    Option("--overwrite", ("train",), "replace a run already in --out", argparse={"action": "store_true"}),
    Option("--seed", ("train", "sample", "evaluate"), "seed of every random draw (default 0)",
           argparse={"type": NON_NEGATIVE}),
    Option("--threads", ("train", "sample", "evaluate", "serve"), "BLAS threads: an integer, or 'auto' (default): 1 when "
                                                         "the machine is busy (load >= half the cores), else all",
           argparse={"type": threads}),
    Option("--n", ("sample", "evaluate"), "how many samples (text kinds: characters; default 100 to sample, "
                                          "1000 to evaluate)", argparse={"type": POSITIVE}),
    Option("--json", ("evaluate",), "print one JSON object", argparse={"action": "store_true"}),
]


def check_out_dir(out: str, resume: str | None, overwrite: bool) -> None:
    """Refuse a train --out that cannot work, before any training starts."""
    if not out or not out.strip():
        raise UsageError("--out: expected a folder name, got an empty string")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out}: expected a folder, but this is an existing file")
    if os.path.isdir(out):
        holds = [n for n in ("last.npz", "best.npz", "history.csv") if os.path.exists(os.path.join(out, n))]
        if holds and not resume and not overwrite:
            raise UsageError(f"--out {out} already holds a run ({', '.join(holds)}); pass --resume "
                             f"{os.path.join(out, 'last.npz')} to continue it, --overwrite to replace it, "
                             "or another --out")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite: choose one (continue the run, or replace it)")
    folder = out if os.path.isdir(out) else os.path.dirname(os.path.abspath(out))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: the folder {folder} is not writable")


_WHAT = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket",
         stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


def check_out_file(out: str, extensions: tuple, what: str) -> None:
    """--out names a file ending in one of ``extensions`` that is new or a regular file."""
    if not out.lower().endswith(extensions):
        raise UsageError(f"--out {out}: {what} go to a file ending in {' or '.join(extensions)}")
    if os.path.lexists(out):
        mode = os.stat(out).st_mode if os.path.exists(out) else 0
        if not stat.S_ISREG(mode):
            raise UsageError(f"--out {out}: expected a regular file or a new name, got "
                             f"{_WHAT.get(stat.S_IFMT(mode), 'a broken link')}")


def check_resume(args, meta: dict) -> None:
    """--resume names the last.npz of the run in --out, holding a model of the kind being trained."""
    path = args.resume
    if os.path.basename(path) != "last.npz":
        raise UsageError(f"--resume {path}: training continues from a run's last.npz (its latest state), "
                         f"not from {os.path.basename(path)}; to train on from a best.npz, copy the run "
                         "folder and give its last.npz")
    if os.path.abspath(os.path.dirname(path)) != os.path.abspath(args.out):
        raise UsageError(f"--resume {path}: resume continues the run in --out {args.out}; "
                         f"pass {os.path.join(args.out, 'last.npz')}")
    if meta["kind"] != args.kind:
        raise UsageError(f"--resume {path}: the checkpoint holds a {meta['kind']!r} model, "
                         f"but the command trains {args.kind!r}")
    if meta["train"] is None:
        raise UsageError(f"--resume {path}: the checkpoint keeps no training settings (it was not written by "
                         "the training loop), so the run cannot be continued")
