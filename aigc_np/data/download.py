"""Download full MNIST / Fashion-MNIST IDX files, verified by SHA-256.

Usage (``make data-full`` runs the first line)::

    python -m aigc_np.data.download --dest data
    python -m aigc_np.data.download --dest data --dataset fashion
    python -m aigc_np.data.download --dest data --dataset all
    python -m aigc_np.data.download --dest data --base-url file:///mnt/mirror/mnist/

Files go to ``<dest>/mnist/`` and ``<dest>/fashion/`` (both datasets use the
same file names, hence one folder each), which is where
:func:`aigc_np.data.load_dataset` looks for them.

Safety: every file is streamed into a temporary file in the destination
folder while its SHA-256 is computed; only if size and hash match the table
below is it renamed into place (``os.replace``, atomic). On a mismatch the
temp file is deleted and a ValueError names the file with the expected and
received hash, so a truncated or tampered download never reaches the loader.
Files already present with the right hash are not downloaded again.

Only the standard library (``urllib``) is used; ``http://``, ``https://`` and
``file://`` base URLs all work (the tests serve files from 127.0.0.1).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping, Sequence

from ..io import atomic_write, remove_stale_parts, sha256_file
from .mnist import _TRAIN_FILES, full_data_files

__all__ = ["DATASETS", "download", "fallback_hint", "main"]

# Expected (size in bytes, SHA-256) of every file.
#
# Where these come from: TensorFlow Datasets' recorded checksums,
#   github.com/tensorflow/datasets  tensorflow_datasets/url_checksums/mnist.txt
#   github.com/tensorflow/datasets  tensorflow_datasets/url_checksums/fashion_mnist.txt
# (TFDS downloads MNIST from the storage.googleapis.com/cvdf-datasets mirror
# and Fashion-MNIST from the S3 site below.) The same SHA-256 values appear
# independently in many other projects that download from LeCun's site, the
# ossci-datasets mirror (used by torchvision) and the Fashion-MNIST S3 site.
# The ossci mirror hosts byte-identical copies of LeCun's files: torchvision
# checks the well-known MD5s f68b3c2d..., d53e105e..., 9fb629c4...,
# ec29112d... against it. These hashes could not be re-checked here against a
# live download (no internet on the build machine).
DATASETS: dict[str, dict] = {
    "mnist": {
        "base_url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "files": {
            "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        },
    },
    "fashion": {
        "base_url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "files": {
            "train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        },
    },
}

_CHUNK = 1 << 16


def _fetch(url: str, target: Path, size: int | None, sha256: str, timeout: float) -> None:
    """Stream ``url`` into ``target`` atomically, verifying size and SHA-256 first."""
    h = hashlib.sha256()
    received = 0
    expected = f"{size}" if size is not None else "?"
    with atomic_write(target) as out:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    received += len(chunk)
                    # Stop early if the server sends more than expected (wrong file,
                    # or an endless stream) instead of filling the disk.
                    if size is not None and received > size:
                        raise ValueError(f"download: {target.name} from {url}: expected {size} bytes, "
                                         f"received more; refusing the file")
                    h.update(chunk)
                    out.write(chunk)
        # A connection closed mid-chunk (IncompleteRead), reset or timed out after the
        # transfer began: the file is incomplete whatever the cause.
        except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
            raise ValueError(f"download: {target.name} from {url}: the transfer broke off after {received} "
                             f"of {expected} bytes ({type(e).__name__}); nothing was kept, run the download "
                             f"again") from None
        except urllib.error.URLError as e:   # no server, no such file (HTTPError), a bad file:// path
            reason = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) else str(e.reason)
            raise OSError(f"download: {target.name} from {url}: cannot fetch it ({reason})") from None
        got = h.hexdigest()
        if got != sha256 or (size is not None and received != size):
            # Raising inside atomic_write deletes the temp file: nothing partial stays.
            raise ValueError(f"download: {target.name} from {url}: expected sha256 {sha256} "
                             f"({expected} bytes), received sha256 "
                             f"{got} ({received} bytes); file refused (corrupted or truncated)")


def fallback_hint(dest: str | os.PathLike, dataset: str) -> str:
    """What :func:`aigc_np.data.load_dataset` does with ``dest`` now, after a failed download.

    The downloader keeps only verified files, so ``dest/<dataset>/`` holds
    the files that arrived whole. ``load_dataset`` trains on the full data
    when both training files are there, refuses one without the other, and
    otherwise uses the bundled subset (MNIST only; Fashion-MNIST has none).
    """
    call = f"load_dataset(data_dir={os.fspath(dest)!r}{'' if dataset == 'mnist' else f', dataset={dataset!r}'})"
    folder = Path(dest) / dataset
    try:
        files = full_data_files(dest, dataset)
    except ValueError:
        present = {stem: [stem + ext for ext in (".gz", "") if (folder / (stem + ext)).is_file()]
                   for stem in _TRAIN_FILES}
        have = next(names[0] for names in present.values() if names)
        missing = next(stem for stem, names in present.items() if not names) + ".gz"
        return (f"{folder} has {have} but not {missing}: {call} refuses to start; run the download "
                f"again" + (f" (or delete {have} to use the bundled subset)" if dataset == "mnist" else ""))
    if files is not None:
        name = "full MNIST" if dataset == "mnist" else "full Fashion-MNIST"
        return (f"the training files are complete: {call} uses {name} (the missing test files are not used "
                f"for training)")
    if dataset == "mnist":
        return f"no MNIST training files are in {folder}: {call} uses the bundled 5,000-image subset"
    return f"no Fashion-MNIST training files are in {folder}, and there is no bundled subset of it: run the " \
           f"download again"


def download(dataset: str = "mnist", dest: str | os.PathLike = "data",
             base_url: str | None = None,
             files: Mapping[str, tuple[int | None, str]] | None = None,
             timeout: float = 60.0, force: bool = False, quiet: bool = False) -> list[Path]:
    """Download one dataset's IDX files into ``dest/<dataset>/``, verified.

    Args:
        dataset: "mnist" or "fashion" (a key of :data:`DATASETS`).
        dest: parent folder; files go to ``dest/<dataset>/<file name>``.
        base_url: mirror to use instead of the default; ``http://``,
            ``https://`` or ``file://``, file names are appended to it.
        files: ``{file name: (size in bytes or None, sha256 hex)}`` to use
            instead of the built-in table (the tests inject their own).
        timeout: seconds per network operation.
        force: download even files that are present and verify.
        quiet: no progress messages.

    Returns:
        Paths of the verified files.

    Raises:
        ValueError: for an unknown dataset, naming the file with expected
            and received hash when a download does not verify, or naming the
            file and the bytes received when the transfer breaks off mid-file.
        OSError: (e.g. urllib.error.URLError) when the mirror is unreachable.
    """
    if dataset not in DATASETS:
        raise ValueError(f"download: expected dataset in {sorted(DATASETS)}, got {dataset!r}")
    spec = DATASETS[dataset]
    # Lower-case the hashes once: hexdigest() is lower-case, tables may not be.
    table = {name: (size, sha.lower())
             for name, (size, sha) in (spec["files"] if files is None else files).items()}
    base = (spec["base_url"] if base_url is None else base_url).rstrip("/") + "/"
    folder = Path(dest) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(folder, table)   # temp files of a download that was killed

    paths = []
    for name, (size, sha256) in table.items():
        target = folder / name
        if not force and target.is_file() and sha256_file(target) == sha256:
            if not quiet:
                print(f"ok       {target} (already present, sha256 verified)")
        else:
            if not quiet:
                print(f"fetching {base}{name} -> {target}", flush=True)
            _fetch(base + name, target, size, sha256, timeout)
            if not quiet:
                print(f"ok       {target} (sha256 verified)")
        paths.append(target)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m aigc_np.data.download",
        description="Download full MNIST / Fashion-MNIST IDX files (SHA-256 verified).")
    parser.add_argument("--dest", default="data", help="parent folder (default: data)")
    parser.add_argument("--dataset", choices=["mnist", "fashion", "all"], default="mnist")
    parser.add_argument("--base-url", default=None,
                        help="mirror URL (http://, https:// or file://) holding the .gz files")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--force", action="store_true", help="re-download verified files")
    args = parser.parse_args(argv)
    names = ["mnist", "fashion"] if args.dataset == "all" else [args.dataset]
    if args.base_url and len(names) > 1:
        # Both datasets use identical file names, so one mirror URL cannot serve both.
        parser.error("--base-url needs a single --dataset (mnist or fashion)")
    for name in names:
        try:
            download(name, args.dest, base_url=args.base_url, timeout=args.timeout, force=args.force)
        except (ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            print(f"({fallback_hint(args.dest, name)})", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
