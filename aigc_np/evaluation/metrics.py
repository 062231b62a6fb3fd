"""Scores for generated 28x28 digits, in NumPy, computed with the judge network.

Each metric answers one question the article's "content evaluation" step asks:

| metric | question | computed on |
|---|---|---|
| Inception Score (IS) | are samples confidently *some* digit, and varied? | judge softmax |
| Frechet distance (FD) | do sample features match real features in mean and covariance? | judge penultimate layer (128-d) |
| class histogram, coverage, class KL | are all 10 digits produced, in the right proportions? | judge labels |
| precision / recall (k-NN manifolds) | are samples realistic (precision) and is all of the real data reached (recall)? | judge features |
| memorization | are samples copies of training images? | pixels |

A number means little alone, so :func:`evaluate_images` reports every metric
next to the same metric computed on *real* held-out images (the baseline).
"""
from __future__ import annotations

import numpy as np

from .judge import _as_images, load_judge
from ..losses import softmax

__all__ = ["judge_outputs", "inception_score", "frechet_distance", "feature_statistics",
           "class_histogram", "class_kl", "pairwise_sq_distances", "precision_recall",
           "nearest_distances", "memorization", "evaluate_images", "metrics_table"]

FEATURE_LAYER = 10  # judge layers [0, 10) end with Dense(128) + ReLU: the feature vector


def judge_outputs(images, judge=None, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 128), probabilities (N, 10)) of images in [0, 1], in float64."""
    judge = load_judge() if judge is None else judge
    images = _as_images(images)
    judge.eval()
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        h = images[i:i + batch_size]
        for layer in judge.layers[:FEATURE_LAYER]:
            h = layer.forward(h)
        feats.append(h)
        logits = h
        for layer in judge.layers[FEATURE_LAYER:]:
            logits = layer.forward(logits)
        probs.append(softmax(logits, axis=1))
    return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)


def inception_score(probs: np.ndarray) -> float:
    """IS = exp(E_x[KL(p(y|x) || p(y))]) with p(y) the mean of p(y|x) over the set.

    Ranges from 1 (every image gets the same prediction) to the number of
    classes (each image confidently one class, classes used equally).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"inception_score: expected probabilities (N, K), got shape {probs.shape}")
    marginal = probs.mean(axis=0)
    # 0 * log 0 = 0: use where= so zero probabilities contribute nothing.
    ratio = np.divide(probs, marginal, out=np.ones_like(probs), where=probs > 0)
    kl = np.sum(probs * np.log(ratio), axis=1)
    return float(np.exp(kl.mean()))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"feature_statistics: expected features (N >= 2, D), got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix via eigh (tiny negative
    eigenvalues from round-off are clipped to 0)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, s1, mu2, s2) -> float:
    """Frechet distance between N(mu1, s1) and N(mu2, s2):

        ||mu1 - mu2||^2 + tr(s1) + tr(s2) - 2 tr(sqrt(s1 s2))

    tr(sqrt(s1 s2)) = sum of sqrt(eigenvalues of sqrt(s1) s2 sqrt(s1)), a
    symmetric PSD matrix, so ``eigh`` suffices (no scipy.linalg.sqrtm).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"frechet_distance: shapes do not match: mu {mu1.shape}/{mu2.shape}, "
                         f"cov {s1.shape}/{s2.shape}")
    root = _sqrt_psd(s1)
    eig = np.linalg.eigvalsh(root @ s2 @ root)
    tr_sqrt = np.sum(np.sqrt(np.clip(eig, 0, None)))
    value = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    return float(max(value, 0.0))


def class_histogram(probs: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Fraction of images the judge assigns to each class, (n_classes,)."""
    labels = np.argmax(probs, axis=1)
    return np.bincount(labels, minlength=n_classes) / max(len(labels), 1)


def class_kl(hist: np.ndarray, reference: np.ndarray) -> float:
    """KL(hist || reference) in nats; ln(10) when a generator makes one digit and the
    reference is uniform over 10. Reference classes are floored at 1e-12."""
    hist = np.asarray(hist, np.float64)
    reference = np.maximum(np.asarray(reference, np.float64), 1e-12)
    nz = hist > 0
    return float(np.sum(hist[nz] * np.log(hist[nz] / reference[nz])))


def pairwise_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)) via |a|^2 + |b|^2 - 2 a.b (one matmul)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0)


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point in the same set."""
    d = pairwise_sq_distances(x, x)
    # Column 0 of the sorted rows is the point itself (distance 0).
    return np.sqrt(np.partition(d, k, axis=1)[:, k])


def precision_recall(real_features, fake_features, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    Each set's manifold is the union of balls around its points, with radius
    the distance to the k-th nearest neighbour. Precision: the fraction of
    fake points inside the real manifold. Recall: the fraction of real points
    inside the fake manifold.
    """
    real, fake = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision_recall: need more than k={k} points in each set, "
                         f"got {len(real)} real and {len(fake)} fake")
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    d = np.sqrt(pairwise_sq_distances(fake, real))  # (n_fake, n_real)
    precision = np.mean(np.any(d <= r_real[None, :], axis=1))
    recall = np.mean(np.any(d.T <= r_fake[None, :], axis=1))
    return float(precision), float(recall)


def nearest_distances(queries, references, batch_size: int = 1000) -> np.ndarray:
    """Pixel-space distance from each query image to its nearest reference image."""
    q = np.asarray(queries, np.float64).reshape(len(queries), -1)
    r = np.asarray(references, np.float64).reshape(len(references), -1)
    out = [np.sqrt(pairwise_sq_distances(q[i:i + batch_size], r).min(axis=1))
           for i in range(0, len(q), batch_size)]
    return np.concatenate(out) if out else np.zeros(0)


def memorization(samples, train_images, heldout_images) -> dict:
    """Do samples sit closer to training images than new real images do?

    Returns the median nearest-training-image distance of the samples and of
    held-out real images, and the fraction of samples closer to a training
    image than the closest 1% of held-out images are ("near copies").
    """
    d_samples = nearest_distances(samples, train_images)
    d_heldout = nearest_distances(heldout_images, train_images)
    threshold = np.quantile(d_heldout, 0.01)
    return {"nn_dist_samples": float(np.median(d_samples)),
            "nn_dist_heldout": float(np.median(d_heldout)),
            "near_copies": float(np.mean(d_samples < threshold))}


def evaluate_images(samples, real_images, train_images=None, judge=None, seed: int = 0) -> dict:
    """Every metric for ``samples`` next to its real-data baseline.

    Args:
        samples: generated images in [0, 1], (N, 28, 28) or (N, 1, 28, 28) or (N, 784).
        real_images: held-out real images in [0, 1] (e.g. the validation split).
        train_images: the training images (for memorization); skipped if None.

    FD, precision and recall depend on set sizes, so they are computed on
    equal-size disjoint sets: one random half B of ``real_images`` is the
    reference; the baseline compares the other real half A with B, and the
    samples' score compares len(A) samples with B. IS, the class histogram
    and "confident" use every sample.
    """
    judge = load_judge() if judge is None else judge
    f_fake, p_fake = judge_outputs(samples, judge)
    f_real, p_real = judge_outputs(real_images, judge)
    order = np.random.default_rng(seed).permutation(len(f_real))
    half_a, half_b = order[: len(order) // 2], order[len(order) // 2:]
    m = min(len(half_a), len(f_fake))
    ref_stats = feature_statistics(f_real[half_b])
    hist_real = class_histogram(p_real)
    hist_fake = class_histogram(p_fake)
    precision, recall = precision_recall(f_real[half_b], f_fake[:m])
    precision_real, recall_real = precision_recall(f_real[half_b], f_real[half_a][:m])
    result = {
        "n": int(len(f_fake)), "n_reference": int(len(half_b)),
        "inception_score": inception_score(p_fake), "inception_score_real": inception_score(p_real),
        "fd": frechet_distance(*feature_statistics(f_fake[:m]), *ref_stats),
        "fd_real_baseline": frechet_distance(*feature_statistics(f_real[half_a][:m]), *ref_stats),
        "classes_covered": int(np.count_nonzero(hist_fake)),
        "class_kl": class_kl(hist_fake, hist_real),
        "class_kl_real_baseline": class_kl(class_histogram(p_real[half_a]), class_histogram(p_real[half_b])),
        "class_histogram": hist_fake.tolist(),
        "precision": precision, "recall": recall,
        "precision_real_baseline": precision_real, "recall_real_baseline": recall_real,
        "confident": float(np.mean(p_fake.max(axis=1) >= 0.9)),
        "confident_real": float(np.mean(p_real.max(axis=1) >= 0.9)),
    }
    if train_images is not None:
        result.update(memorization(samples, train_images, real_images))
    return result


def metrics_table(rows: dict, columns: list, width: int = 11) -> str:
    """A plain-text table: one line per row, one right-aligned column per metric.

    rows: {row name: {key: value}}; columns: [(heading, key)]. Floats print with 3 decimals,
    integers as they are; the first column holds the row names.
    """
    header = f"{'model':<{width}}" + "".join(f"{c:>{width}}" for c, _ in columns)
    lines = [header, "-" * len(header)]
    for name, row in rows.items():
        cells = (f"{row[k]:>{width}.3f}" if isinstance(row[k], float) else f"{row[k]:>{width}d}" for _, k in columns)
        lines.append(f"{name:<{width}}" + "".join(cells))
    return "\n".join(lines)
