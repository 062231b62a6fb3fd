"""One yardstick for image generators: the best epoch, the report, the target.

Every GAN-family run (lessons 07, 08, 10, 11, the CLI, lesson 09) picks its
best epoch and reports its samples with :class:`SampleScorer`:

* the **reference** is the judge-feature mean and covariance of 4,000 real
  training images (a fixed, seeded subset of the 4,500): large enough that
  its own noise is small next to the differences between epochs;
* the **real-data baseline** scores the other 1,000 real images (the 500
  training images left out of the reference and the 500 validation images)
  exactly as a model's 1,000 samples are scored, so every number is printed
  beside what real digits get at the same sample size;
* the **selection** value, lower is better, is

      selection = FD                 if every digit holds >= 4% of the samples,
                  FD + 1,000,000     otherwise,

  so an epoch that drops (or nearly drops) a digit never beats one that
  keeps all ten, and among those that keep them the one closest to the real
  data in FD wins. FD, unlike the judge's confidence, gets worse when a
  generator sharpens a few digits at the expense of the others, and it is
  not fooled by noise (the judge is "confident" about many noise images).

The quality target for the GANs: FD <= 1.5 x the real-data FD, every digit
>= 4%, and the judge confident on >= 80% (:func:`meets_target`).
"""
from __future__ import annotations

import numpy as np

from .judge import load_judge
from .metrics import feature_statistics, frechet_distance, judge_outputs, precision_recall

__all__ = ["SampleScorer", "MIN_DIGIT_SHARE", "FD_TARGET_RATIO", "CONFIDENT_TARGET", "meets_target",
           "describe_scores", "score_sets", "describe_sets", "plot_scores", "score_fresh",
           "epoch_score_fn"]

MIN_DIGIT_SHARE = 0.04
FD_TARGET_RATIO = 1.5
CONFIDENT_TARGET = 0.8
SELECTION_PENALTY = 1e6
N_REFERENCE = 4000


def _unit(images) -> np.ndarray:
    images = np.asarray(images)
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images


class SampleScorer:
    """Score sets of generated digits against a fixed real reference.

    Args:
        data: a dataset from ``aigc_np.data.load_dataset`` (x_train, x_val as uint8).
        n: the number of samples (and real baseline images) each score uses.
        judge: the judge CNN (default: the bundled one).
        seed: picks the reference subset of the training images.

    ``score(images)`` returns, for images (n, 28, 28) in [0, 1]:
    fd, confident, min_class, classes, precision, recall, selection.
    ``baseline`` holds the same keys for the 1,000 held-out real images.
    """

    def __init__(self, data, n: int = 1000, judge=None, seed: int = 0):
        x_train, x_val = _unit(data.x_train), _unit(data.x_val)
        if len(x_train) <= N_REFERENCE:
            raise ValueError(f"SampleScorer: expected more than {N_REFERENCE} training images, got {len(x_train)}")
        self.judge = load_judge() if judge is None else judge
        order = np.random.default_rng(seed).permutation(len(x_train))
        reference = x_train[order[:N_REFERENCE]]
        held_out = np.concatenate([x_train[order[N_REFERENCE:]], x_val])
        if not 1 <= n <= len(held_out):
            raise ValueError(f"SampleScorer: n must be in 1..{len(held_out)} (the held-out real images), got {n}")
        self.n = int(n)
        f_ref, _ = judge_outputs(reference, self.judge)
        self.reference_stats = feature_statistics(f_ref)
        # Precision/recall compare k-NN manifolds, which depend on set size: use n reference points.
        self._ref_features = f_ref[:self.n]
        self.n_reference = len(reference)
        self.baseline = self.score(held_out[:self.n])

    def judge_labels(self, images) -> np.ndarray:
        """(N,) the judge's digit for each image in [0, 1]."""
        return judge_outputs(images, self.judge)[1].argmax(axis=1)

    def score(self, images) -> dict:
        features, probs = judge_outputs(images, self.judge)
        if len(features) != self.n:
            raise ValueError(f"SampleScorer.score: expected {self.n} images (the baseline's sample size), "
                             f"got {len(features)}")
        shares = np.bincount(probs.argmax(axis=1), minlength=10) / len(probs)
        fd = frechet_distance(*feature_statistics(features), *self.reference_stats)
        precision, recall = precision_recall(self._ref_features, features)
        min_class = float(shares.min())
        return {"fd": fd, "confident": float(np.mean(probs.max(axis=1) >= 0.9)), "min_class": min_class,
                "classes": int(np.count_nonzero(shares)), "precision": precision, "recall": recall,
                "selection": fd + (0.0 if min_class >= MIN_DIGIT_SHARE else SELECTION_PENALTY)}


def meets_target(scores: dict, baseline: dict) -> bool:
    """The GAN quality target: FD <= 1.5 x real, every digit >= 4%, confident >= 80%."""
    return (scores["fd"] <= FD_TARGET_RATIO * baseline["fd"] and scores["min_class"] >= MIN_DIGIT_SHARE
            and scores["confident"] >= CONFIDENT_TARGET)


def describe_scores(scores: dict, baseline: dict) -> str:
    """One line: each number beside the real-data baseline, FD and coverage before confidence."""
    return (f"FD {scores['fd']:.1f} (real {baseline['fd']:.1f}, {scores['fd'] / baseline['fd']:.2f}x), "
            f"rarest digit {scores['min_class']:.1%} (real {baseline['min_class']:.1%}), "
            f"{scores['classes']}/10 digits, precision {scores['precision']:.2f} / recall {scores['recall']:.2f} "
            f"(real {baseline['precision']:.2f} / {baseline['recall']:.2f}), "
            f"confident {scores['confident']:.1%} (real {baseline['confident']:.1%})")


def score_sets(generate, z_sets, scorer: SampleScorer) -> dict:
    """Score several independent sets of samples: ``generate(z)`` -> images in [0, 1] for each
    entry of ``z_sets``. One set of 1,000 is good to about 1.3 points in a share near 80%
    (standard error sqrt(p (1 - p) / n)), so results are reported over several.
    Returns each key of :meth:`SampleScorer.score` as an (S,) array."""
    scores = [scorer.score(generate(z)) for z in z_sets]
    return {key: np.array([s[key] for s in scores]) for key in ("fd", "min_class", "confident", "precision",
                                                                  "recall")}


def describe_sets(sets: dict) -> str:
    """One line for :func:`score_sets`: the mean and range over the sets, FD first."""
    fd, rarest, confident = sets["fd"], sets["min_class"], sets["confident"]
    return (f"FD {fd.mean():.1f} on average ({fd.min():.1f}-{fd.max():.1f}), rarest digit {rarest.mean():.1%} "
            f"on average (lowest {rarest.min():.1%}), confident {confident.mean():.1%} "
            f"({confident.min():.1%}-{confident.max():.1%})")


def plot_scores(history: list, baseline: dict, path) -> str:
    """The scores of a run's judged epochs (rows of ``history`` with "fd"): FD on a log scale
    against the real digits' FD and the 1.5x target, and the rarest digit's share and the
    confidence against the 4% line. Saves a PNG at ``path`` and returns the path."""
    from ..plotting import plt, save_figure

    judged = [row for row in history if "fd" in row]
    epochs = [row["epoch"] for row in judged]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(epochs, [row["fd"] for row in judged], label="samples")
    axes[0].axhline(baseline["fd"], color="g", ls="--", label="real digits")
    axes[0].axhline(FD_TARGET_RATIO * baseline["fd"], color="r", ls=":", label="target 1.5x real")
    axes[0].set(yscale="log", xlabel="epoch", ylabel="FD (log scale)", title="Frechet distance")
    for key, name in (("min_class", "rarest digit's share"), ("confident", "confident")):
        axes[1].plot(epochs, [row[key] for row in judged], label=name)
    axes[1].axhline(MIN_DIGIT_SHARE, color="r", ls=":", label="4%")
    axes[1].set(xlabel="epoch", ylabel="share of samples", title="coverage and confidence")
    for ax in axes:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def score_fresh(generate, scorer: SampleScorer, seed: int, n_sets: int, latent_dim: int = 100):
    """Judge a chosen epoch on samples it was not chosen on: one set of ``scorer.n`` fresh z from
    ``seed``, then ``n_sets`` more sets from ``seed + 1`` (:func:`score_sets`).

    generate: ``z (n, latent_dim) -> images (n, 28, 28) in [0, 1]``.
    Returns (the first set's images, their :meth:`SampleScorer.score`, the sets' scores).
    """
    z = np.random.default_rng(seed).standard_normal((scorer.n, latent_dim)).astype(np.float32)
    images = generate(z)
    scores = scorer.score(images)
    more_z = np.random.default_rng(seed + 1).standard_normal((n_sets, scorer.n, latent_dim)).astype(np.float32)
    return images, scores, score_sets(generate, more_z, scorer)


def epoch_score_fn(scorer: SampleScorer, images_of, z):
    """A ``score_fn`` for :func:`aigc_np.training.train`: ``model -> scorer.score(images_of(model, z))``,
    printing each judged epoch's line beside the real digits' (:func:`describe_scores`)."""
    def score_fn(model):
        scores = scorer.score(images_of(model, z))
        print(f"  {describe_scores(scores, scorer.baseline)}")
        return scores
    return score_fn
