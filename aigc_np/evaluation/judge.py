"""The judge: the lesson-03 CNN, shipped trained, that scores generated digits.

A generated digit is "convincing" when the judge is confident about what it
is (max softmax >= 0.9), and a generator "keeps every mode" when each of the
10 digits shows up among its samples. Neither number proves a generator is
good, but both catch the two classic GAN failures: blurry nonsense and mode
collapse. (Provenance of the weights: data/README.md.)
"""
from __future__ import annotations

import os

import numpy as np

from .classifier import cnn_classifier, predict_proba
from ..data import DATA_DIR
from ..io import load_weights

__all__ = ["JUDGE_PATH", "load_judge", "judge_scores", "describe_judge_scores", "label_accuracy"]

JUDGE_PATH = os.path.join(DATA_DIR, "judge_cnn.npz")


def load_judge(path=None):
    """The trained CNN (eval mode, float32), rebuilt and filled from the .npz."""
    model = cnn_classifier(np.random.default_rng(0))
    load_weights(model, JUDGE_PATH if path is None else path)
    return model.eval()


def _as_images(images, caller: str = "judge_scores") -> np.ndarray:
    """Images as (N, 1, 28, 28) float32; ValueError naming ``caller`` unless in [0, 1] and digit-shaped."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"{caller}: expected images (N, 784), (N, 28, 28) or (N, 1, 28, 28), "
                         f"got {images.shape}")
    if len(images) == 0:
        raise ValueError(f"{caller}: expected at least one image, got {images.shape}")
    if images.min() < -1e-6 or images.max() > 1 + 1e-6:
        raise ValueError(f"{caller}: expected pixel values in [0, 1] (use from_tanh for tanh outputs), "
                         f"got [{images.min():.3g}, {images.max():.3g}]")
    return images


def judge_scores(images, judge=None, threshold: float = 0.9) -> dict:
    """Score images with values in [0, 1].

    Returns:
        confident: fraction of images whose max class probability >= threshold.
        class_fractions: (10,) fraction of images assigned to each digit.
        min_class_fraction: the rarest digit's share (0 if a digit is missing).
        classes_covered: digits with at least one image.
        predictions: (N,) the judge's labels.
    """
    judge = load_judge() if judge is None else judge
    p = predict_proba(judge, _as_images(images))
    labels = p.argmax(axis=1)
    fractions = np.bincount(labels, minlength=10) / len(labels)
    return {"confident": float(np.mean(p.max(axis=1) >= threshold)),
            "class_fractions": fractions,
            "min_class_fraction": float(fractions.min()),
            "classes_covered": int(np.count_nonzero(fractions)),
            "predictions": labels}


def describe_judge_scores(scores: dict) -> str:
    """One line for the result of ``judge_scores``: confident share, digits present, rarest
    digit, and every digit's share in whole percent."""
    return (f"confident {scores['confident']:.1%}, digits present {scores['classes_covered']}/10, rarest digit "
            f"{scores['min_class_fraction']:.1%}, per digit {np.round(scores['class_fractions'] * 100).astype(int)} %")


def label_accuracy(images, labels, judge=None) -> float:
    """The judge's accuracy on the digits a conditional model was asked for.

    images: (N, 28, 28) (or (N, 784), (N, 1, 28, 28)) in [0, 1]; labels: (N,)
    integers 0-9, the digit each image was asked to be. Returns
    mean_n [argmax_k p_judge(k | image_n) == labels_n], in [0, 1].
    """
    images = _as_images(images, "label_accuracy")
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"label_accuracy: expected integer labels, got dtype {labels.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(f"label_accuracy: expected labels of shape ({len(images)},) for {len(images)} images, "
                         f"got {labels.shape}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"label_accuracy: expected labels in 0..9, got [{labels.min()}, {labels.max()}]")
    judge = load_judge() if judge is None else judge
    return float(np.mean(predict_proba(judge, images).argmax(axis=1) == labels))
