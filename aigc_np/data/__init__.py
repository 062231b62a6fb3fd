"""Data for the lessons: MNIST loading, scaling, mini-batches and augmentation.

Typical use::

    import numpy as np
    from aigc_np.data import load_dataset, to_tanh, minibatches, Compose, RandomShift, RandomRotation

    rng = np.random.default_rng(0)
    data = load_dataset(seed=0)             # full MNIST if downloaded, else the bundled 5,000
    print(data.source)
    x = to_tanh(data.x_train)               # (4500, 28, 28) float32 in [-1, 1]
    augment = Compose([RandomRotation(10, fill=-1.0), RandomShift(2, fill=-1.0)])
    for xb, yb in minibatches(x, data.y_train, batch_size=64, rng=rng):
        xb = augment(xb, rng)

Without any download the bundled subset (``data/mnist_5k.npz``, 500 images per
digit) is used; ``make data-full`` fetches the full 60,000-image MNIST.
"""
from .augment import Compose, RandomRotation, RandomShift, rotate, shift
from .idx import read_idx, write_idx
from .mnist import (BUNDLED_PATH, DATA_DIR, FASHION_CLASSES, MNIST_CLASSES, MNISTData,
                    full_data_files, load_dataset, load_mnist, stratified_split)
from .preprocess import from_tanh, minibatches, to_tanh, to_unit

__all__ = [
    "load_mnist", "load_dataset", "MNISTData", "stratified_split", "full_data_files",
    "DATA_DIR", "BUNDLED_PATH", "MNIST_CLASSES", "FASHION_CLASSES",
    "to_unit", "to_tanh", "from_tanh", "minibatches",
    "shift", "rotate", "RandomShift", "RandomRotation", "Compose",
    "read_idx", "write_idx",
]
