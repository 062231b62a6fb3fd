"""The lesson 02/03 classifiers: whole-model gradients, the training step, evaluation."""
import numpy as np

from aigc_np.evaluation.classifier import cnn_classifier, evaluate, mlp_classifier, predict_proba, train_epoch
from aigc_np.gradcheck import check_layer, kink_branches, rel_error, rng_replayer, smooth_numerical_gradient
from aigc_np.optimizers import Adam


def test_cnn_classifier_whole_model_gradients():
    rng = np.random.default_rng(0)
    model = cnn_classifier(rng, width=2, dtype=np.float64, hidden=8)  # every layer kind, few parameters
    x = rng.uniform(0, 1, size=(3, 1, 28, 28))
    dy = rng.standard_normal((3, 10))
    errors = check_layer(model, x, dy=dy, check_x=False)
    assert len(errors) == len(model.params) and max(errors.values()) <= 1e-6, errors
    # Some input pixels' gradients are ~1e-5 of the largest: the plain centred
    # difference's round-off is then above 1e-6 of them, so the input gradient
    # is checked with the fourth-order difference (same tolerance).
    rewind = rng_replayer(model)

    def f():
        rewind()
        return model.forward(x)

    f()
    dx = model.backward(dy)
    numeric = smooth_numerical_gradient(f, x, df=dy, branches=lambda: kink_branches(model))
    assert rel_error(dx, numeric) <= 1e-6


def test_mlp_classifier_whole_model_gradients():
    rng = np.random.default_rng(1)
    model = mlp_classifier(rng, hidden=(16,), dtype=np.float64)
    errors = check_layer(model, rng.uniform(0, 1, size=(4, 28, 28)), rng=rng)
    assert max(errors.values()) <= 1e-6, errors


def test_training_lowers_loss_and_evaluate_reports_accuracy():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, size=(64, 28, 28)).astype(np.float32)
    y = (x[:, :14].mean(axis=(1, 2)) > x[:, 14:].mean(axis=(1, 2))).astype(np.int64)  # top vs bottom half
    model = mlp_classifier(np.random.default_rng(3), hidden=(16,))
    before, _ = evaluate(model, x, y)
    opt = Adam(model, lr=1e-2)
    for _ in range(20):
        train_epoch(model, opt, x, y, batch_size=16, rng=rng)
    after, accuracy = evaluate(model, x, y)
    assert after < before / 2 and accuracy == 1.0
    p = predict_proba(model, x)
    assert p.dtype == np.float32 and np.allclose(p.sum(axis=1), 1, atol=1e-5)


def test_same_seed_same_training_run():
    x = np.random.default_rng(4).uniform(0, 1, size=(32, 28, 28)).astype(np.float32)
    y = np.arange(32) % 10

    def run():
        model = mlp_classifier(np.random.default_rng(5), hidden=(8,))
        train_epoch(model, Adam(model), x, y, batch_size=8, rng=np.random.default_rng(6))
        return model.params["1.W"].copy()

    np.testing.assert_array_equal(run(), run())
