"""Metrics on cases with known answers."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigc_np.data import load_dataset, to_unit
from aigc_np.evaluation.metrics import (class_histogram, class_kl, evaluate_images, feature_statistics, frechet_distance,
                             inception_score, memorization, nearest_distances, pairwise_sq_distances,
                             precision_recall)


@pytest.fixture(scope="module")
def real():
    data = load_dataset(seed=0, prefer_full=False)
    return to_unit(data.x_val), data.y_val, to_unit(data.x_train)


def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((300, 8))
    stats = feature_statistics(x)
    assert frechet_distance(*stats, *stats) == pytest.approx(0.0, abs=1e-9)


@given(d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_fd_matches_closed_form_for_two_gaussians(d, seed):
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    # Closed form via an independent route: tr sqrt(s1 s2) from the eigenvalues of s1 s2
    # (real and positive because s1 s2 is similar to a PSD matrix).
    tr_sqrt = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8, abs=1e-9)


def test_fd_of_scaled_isotropic_gaussians():
    # N(0, I) vs N(m, 4I) in d dims: |m|^2 + d + 4d - 2*2d = |m|^2 + d
    d, m = 5, np.full(5, 0.5)
    assert frechet_distance(np.zeros(d), np.eye(d), m, 4 * np.eye(d)) == pytest.approx(1.25 + 5)


def test_inception_score_of_one_hot_predictions_equals_class_count():
    assert inception_score(np.eye(10)[np.arange(100) % 10]) == pytest.approx(10.0)
    assert inception_score(np.eye(10)[np.zeros(100, int)]) == pytest.approx(1.0)
    assert inception_score(np.full((20, 10), 0.1)) == pytest.approx(1.0)


def test_class_kl_of_one_digit_is_ln_10():
    hist = class_histogram(np.eye(10)[np.full(50, 3)])
    assert hist[3] == 1.0 and class_kl(hist, np.full(10, 0.1)) == pytest.approx(np.log(10))
    assert class_kl(np.full(10, 0.1), np.full(10, 0.1)) == 0.0


def test_precision_recall_known_geometry():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((400, 2))
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)
    p, r = precision_recall(real, rng.standard_normal((400, 2)))
    assert p > 0.9 and r > 0.9
    # samples on a quarter of the real data: realistic (precision ~1) but low coverage (recall)
    p, r = precision_recall(real, real[real[:, 0] > 0.7] + 0.01)
    assert p > 0.95 and r < 0.5


def test_pairwise_distances_and_nearest():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(pairwise_sq_distances(a, a), [[0, 25], [25, 0]])
    np.testing.assert_allclose(nearest_distances(a + [0, 1], a), [1.0, 1.0])


def test_memorization_flags_copies(real):
    val, _, train = real
    copies = memorization(train[:200], train, val)
    fresh = memorization(val[:200], train, val[200:])
    assert copies["nn_dist_samples"] < 1e-6 and copies["near_copies"] == 1.0  # round-off of |a|^2+|b|^2-2ab
    assert fresh["near_copies"] < 0.1


def test_real_vs_real_scores_and_a_mode_collapsed_generator(real):
    val, labels, _ = real
    rng = np.random.default_rng(1)
    good = evaluate_images(val[rng.permutation(len(val))], val)
    assert good["precision_real_baseline"] > 0.8 and good["recall_real_baseline"] > 0.8
    assert good["classes_covered"] == 10 and good["inception_score_real"] > 8
    one_digit = val[labels == 1][:1].repeat(500, axis=0)  # a generator that makes one image
    collapsed = evaluate_images(one_digit, val)
    assert collapsed["classes_covered"] == 1
    assert collapsed["class_kl"] == pytest.approx(np.log(10), abs=0.05)
    assert collapsed["inception_score"] < 1.5
    assert collapsed["fd"] > 10 * collapsed["fd_real_baseline"]
    assert collapsed["recall"] < 0.2


def test_errors_name_the_function():
    with pytest.raises(ValueError, match="inception_score"):
        inception_score(np.ones(3))
    with pytest.raises(ValueError, match="precision_recall"):
        precision_recall(np.zeros((3, 2)), np.zeros((3, 2)))
