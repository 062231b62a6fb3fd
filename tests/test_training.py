"""The shared training loop: evaluation schedule, best checkpoint and early stopping."""
import numpy as np

from aigc_np.checkpoint import read_metadata
from aigc_np.models import VAE
from aigc_np.training import train

X = np.random.default_rng(0).uniform(0, 1, (32, 6)).astype(np.float32)


def tiny_vae():
    return VAE(latent_dim=2, hidden=(4,), input_shape=(6,), rng=np.random.default_rng(1))


def test_eval_every_k_epochs_and_after_the_last():
    calls = []
    history = train(tiny_vae(), X, epochs=5, batch_size=16, rng=np.random.default_rng(0), eval_every=2,
                    score_fn=lambda m: calls.append(1) or {"score": float(len(calls))})
    assert [("score" in row) for row in history] == [False, True, False, True, True]


def test_best_checkpoint_and_early_stopping(tmp_path):
    scores = iter([5.0, 3.0, 4.0, 3.5, 3.2, 1.0])  # lower is better; best at epoch 2
    history = train(tiny_vae(), X, epochs=6, batch_size=16, rng=np.random.default_rng(0), out_dir=tmp_path,
                    score_fn=lambda m: {"fd": next(scores)}, best_key="fd", higher_is_better=False, patience=3)
    assert len(history) == 5  # epochs 3, 4, 5 brought no improvement: stop before epoch 6
    meta = read_metadata(tmp_path / "best.npz")
    assert meta["epoch"] == 2
    with np.load(tmp_path / "best.npz", allow_pickle=False) as data:
        assert float(data["extra/fd"]) == 3.0
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,")
