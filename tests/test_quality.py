"""The GANs' yardstick: a fixed real reference, an honest real baseline, and a selection that
never rewards dropping a digit."""
import numpy as np
import pytest

from aigc_np.data import load_dataset
from aigc_np.evaluation.quality import (SELECTION_PENALTY, SampleScorer, describe_scores, describe_sets, meets_target,
                             epoch_score_fn, score_fresh, score_sets)

N = 200


@pytest.fixture(scope="module")
def data():
    return load_dataset(seed=0)


@pytest.fixture(scope="module")
def scorer(data):
    return SampleScorer(data, n=N)


def test_reference_is_4000_training_images_and_the_baseline_is_held_out(data, scorer):
    assert scorer.n_reference == 4000
    b = scorer.baseline
    assert b["selection"] == b["fd"] and b["classes"] == 10 and b["min_class"] >= 0.04
    # The baseline set is not in the reference: scoring reference images themselves gives a lower FD.
    order = np.random.default_rng(0).permutation(len(data.x_train))
    inside = scorer.score(data.x_train[order[:N]] / 255.0)
    assert inside["fd"] < b["fd"]


def test_noise_is_far_and_a_dropped_digit_is_never_selected(data, scorer):
    noise = np.random.default_rng(0).uniform(0, 1, (N, 28, 28)).astype(np.float32)
    assert scorer.score(noise)["fd"] > 20 * scorer.baseline["fd"]
    # Real validation digits without any 7: each image is perfect, yet the set drops a mode.
    keep = data.x_val[data.y_val != 7]
    no_sevens = keep[np.random.default_rng(1).integers(0, len(keep), N)] / 255.0
    s = scorer.score(no_sevens)
    assert s["min_class"] < 0.04 and s["selection"] == s["fd"] + SELECTION_PENALTY
    assert s["selection"] > scorer.score(noise)["fd"]  # worse than any epoch that keeps every digit
    assert s["confident"] >= 0.8  # the judge alone would have been happy


def test_score_needs_the_baselines_sample_size(scorer):
    with pytest.raises(ValueError, match=f"expected {N} images"):
        scorer.score(np.zeros((N + 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="n must be in 1..1000"):
        SampleScorer(load_dataset(seed=0), n=1001)


def test_target_and_descriptions():
    base = {"fd": 4.0, "min_class": 0.09, "confident": 0.94, "classes": 10, "precision": 0.9, "recall": 0.9}
    good = {**base, "fd": 6.0, "min_class": 0.05, "confident": 0.81}
    assert meets_target(good, base)
    assert not meets_target({**good, "fd": 6.1}, base)
    assert not meets_target({**good, "min_class": 0.039}, base)
    assert not meets_target({**good, "confident": 0.79}, base)
    line = describe_scores(good, base)
    assert line.index("FD 6.0 (real 4.0, 1.50x)") < line.index("confident 81.0% (real 94.0%)")


def test_score_sets_scores_each_set_as_score_does(data, scorer):
    sets = np.stack([data.x_train[i * N:(i + 1) * N] / 255.0 for i in range(3)])
    result = score_sets(lambda images: images, sets, scorer)
    assert result["fd"].shape == (3,)
    assert result["fd"][1] == scorer.score(sets[1])["fd"]
    assert describe_sets(result).startswith("FD ")


def test_score_fresh_draws_one_set_from_seed_and_the_others_from_seed_plus_one(data, scorer):
    images = data.x_train[:4 * N] / 255.0

    def generate(z):
        # a stand-in generator: the z's first coordinate picks which real images come back
        return images[np.argsort(z[:, 0])[:N] % len(images)]

    first, scores, more = score_fresh(generate, scorer, seed=3, n_sets=2, latent_dim=5)
    z = np.random.default_rng(3).standard_normal((N, 5)).astype(np.float32)
    np.testing.assert_array_equal(first, generate(z))
    assert scores == scorer.score(first)
    more_z = np.random.default_rng(4).standard_normal((2, N, 5)).astype(np.float32)
    assert more["fd"][1] == scorer.score(generate(more_z[1]))["fd"]
    assert more["fd"].shape == (2,)


def test_epoch_score_fn_scores_the_models_images_and_prints_the_line(data, scorer, capsys):
    images = data.x_train[:N] / 255.0
    score_fn = epoch_score_fn(scorer, lambda model, z: model[z], np.arange(N))
    assert score_fn(images) == scorer.score(images)
    assert capsys.readouterr().out == f"  {describe_scores(scorer.score(images), scorer.baseline)}\n"
