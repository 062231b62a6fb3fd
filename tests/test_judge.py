"""The shipped judge network reproduces its recorded validation accuracy."""
import numpy as np
import pytest

from aigc_np.evaluation.classifier import evaluate
from aigc_np.data import load_dataset, to_unit
from aigc_np.io import sha256_file
from aigc_np.evaluation.judge import JUDGE_PATH, describe_sets, judge_scores, judge_sets, load_judge


def test_shipped_judge_file_is_the_documented_one():
    assert sha256_file(JUDGE_PATH) == "d725a8ec80bcfdd9f753b1706a66f0ade5eaa9a993095c86a8bc56255bf74477"


def test_shipped_judge_reproduces_its_validation_accuracy():
    data = load_dataset(seed=0, prefer_full=False)
    judge = load_judge()
    _, accuracy = evaluate(judge, to_unit(data.x_val)[:, None], data.y_val.astype(np.int64))
    recorded = float(np.load(JUDGE_PATH, allow_pickle=False)["extra/val_accuracy"])
    assert accuracy == pytest.approx(recorded, abs=1e-9) and accuracy >= 0.96


def test_judge_scores_on_real_digits_and_on_one_repeated_digit():
    data = load_dataset(seed=0, prefer_full=False)
    real = judge_scores(to_unit(data.x_val))
    assert real["confident"] > 0.9 and real["classes_covered"] == 10 and real["min_class_fraction"] > 0.07
    ones = to_unit(data.x_val[data.y_val == 1][:1]).repeat(50, axis=0)
    collapsed = judge_scores(ones)
    assert collapsed["classes_covered"] == 1 and collapsed["min_class_fraction"] == 0.0


def test_judge_rejects_tanh_range_images():
    with pytest.raises(ValueError, match=r"judge_scores: expected pixel values in \[0, 1\]"):
        judge_scores(-np.ones((2, 784)))


def test_judge_sets_scores_each_set_like_judge_scores():
    data = load_dataset(seed=0, prefer_full=False)
    images = to_unit(data.x_val)
    index_sets = np.arange(400).reshape(2, 200)            # two disjoint sets of real digits
    sets = judge_sets(lambda idx: images[idx], index_sets)
    for i, idx in enumerate(index_sets):
        one = judge_scores(images[idx])
        assert sets["confident"][i] == one["confident"]
        assert sets["min_class_fraction"][i] == one["min_class_fraction"]
    assert sets["confident"].shape == (2,) and sets["confident"][0] != sets["confident"][1]


def test_describe_sets_reports_mean_range_and_lowest_rarest_share():
    sets = {"confident": np.array([0.8, 0.7, 0.9]), "min_class_fraction": np.array([0.05, 0.07, 0.06])}
    assert describe_sets(sets) == ("confident 80.0% on average (70.0%-90.0%), "
                                   "rarest digit 6.0% on average (lowest 5.0%)")
