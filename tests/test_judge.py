"""The shipped judge network reproduces its recorded validation accuracy."""
import numpy as np
import pytest

from aigc_np.evaluation.classifier import evaluate
from aigc_np.data import load_dataset, to_unit
from aigc_np.io import sha256_file
from aigc_np.evaluation.judge import JUDGE_PATH, judge_scores, label_accuracy, load_judge


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


def test_label_accuracy_is_the_share_the_judge_reads_as_the_requested_digit():
    data = load_dataset(seed=0, prefer_full=False)
    images, judge = to_unit(data.x_val)[:200], load_judge()
    predictions = judge_scores(images, judge)["predictions"]
    assert label_accuracy(images, predictions, judge) == 1.0
    assert label_accuracy(images, (predictions + 1) % 10, judge) == 0.0
    wrong = predictions.copy()
    wrong[:50] = (wrong[:50] + 3) % 10                      # a quarter asked for another digit
    assert label_accuracy(images, wrong, judge) == 0.75
    true = data.y_val[:200].astype(np.int64)                # the real labels: the judge's real accuracy
    assert label_accuracy(images, true) == float(np.mean(predictions == true)) and label_accuracy(images, true) > 0.9
    assert label_accuracy(images.reshape(-1, 784), true, judge) == label_accuracy(images, true, judge)


@pytest.mark.parametrize("images,labels,error,message", [
    (np.zeros((3, 28, 28)), np.zeros(3), TypeError, "label_accuracy: expected integer labels, got dtype float64"),
    (np.zeros((3, 28, 28)), np.zeros(4, int), ValueError, r"label_accuracy: expected labels of shape \(3,\)"),
    (np.zeros((3, 28, 28)), np.array([0, 1, 10]), ValueError, r"label_accuracy: expected labels in 0..9, got \[0, 10\]"),
    (-np.ones((3, 28, 28)), np.zeros(3, int), ValueError, r"label_accuracy: expected pixel values in \[0, 1\]"),
    (np.zeros((3, 27, 27)), np.zeros(3, int), ValueError, r"label_accuracy: expected images \(N, 784\)"),
    (np.zeros((0, 28, 28)), np.zeros(0, int), ValueError, "label_accuracy: expected at least one image"),
])
def test_label_accuracy_rejects_bad_input_naming_itself(images, labels, error, message):
    with pytest.raises(error, match=message):
        label_accuracy(images, labels)
