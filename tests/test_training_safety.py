"""The training loop under stress: divergence, kills between files, schedules, progress."""
import io
import os

import numpy as np
import pytest

from aigc_np.checkpoint import read_metadata
from aigc_np.models import VAE
from aigc_np.models.registry import build_model
from aigc_np.progress import Progress, RunClock
from aigc_np.training import TrainingDiverged, resume, train

X = np.random.default_rng(0).uniform(0, 1, (32, 6)).astype(np.float32)


def tiny_vae(lr=1e-3):
    return VAE(latent_dim=2, hidden=(4,), input_shape=(6,), rng=np.random.default_rng(1), lr=lr)


def all_finite(path):
    with np.load(path, allow_pickle=False) as data:
        return all(np.isfinite(data[k]).all() for k in data.files if data[k].dtype.kind == "f")


# ----------------------------------------------------------- divergence
def test_exploding_loss_stops_with_epoch_step_and_hint_and_saves_nothing_bad(tmp_path):
    """A huge learning rate: the loss runs to 1e14 and beyond before anything turns NaN.
    Training must stop at the step, name it, and keep the last good (finite) checkpoint."""
    gan = build_model("gan", {"g_hidden": [8], "d_hidden": [8], "lr": 1e3, "latent_dim": 4},
                      rng=np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(-1, 1, (64, 784)).astype(np.float32)
    with pytest.raises(TrainingDiverged, match=r"epoch \d+, step \d+.*smaller learning rate"):
        train(gan, x, epochs=50, batch_size=16, rng=np.random.default_rng(2), out_dir=tmp_path)
    if (tmp_path / "last.npz").exists():
        assert all_finite(tmp_path / "last.npz")


def test_a_layer_refusing_nan_mid_step_is_reported_as_divergence(tmp_path):
    vae = tiny_vae()
    original = vae.train_step
    calls = []

    def blows_up(xb):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("Dense: input contains NaN or infinity")
        return original(xb)
    vae.train_step = blows_up
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 1: a value stopped being finite"):
        train(vae, X, epochs=3, batch_size=16, rng=np.random.default_rng(0), out_dir=tmp_path)
    assert read_metadata(tmp_path / "last.npz")["epoch"] == 1


def test_other_errors_in_a_step_are_not_called_divergence():
    vae = tiny_vae()
    vae.train_step = lambda xb: (_ for _ in ()).throw(ValueError("Dense: expected input (N, 6)"))
    with pytest.raises(ValueError, match="expected input"):
        train(vae, X, epochs=1, batch_size=16, rng=np.random.default_rng(0))


def test_non_finite_parameters_stop_the_run_before_they_are_saved(tmp_path):
    vae = tiny_vae()
    original = vae.train_step

    def poison(xb):
        out = original(xb)
        if vae.optimizer.t == 4:  # the last step of epoch 2
            next(iter(vae.params.values()))[...] = np.inf
        return out
    vae.train_step = poison
    with pytest.raises(TrainingDiverged, match=r"epoch 2.*param/.* is not finite"):
        train(vae, X, epochs=3, batch_size=16, rng=np.random.default_rng(0), out_dir=tmp_path)
    assert read_metadata(tmp_path / "last.npz")["epoch"] == 1 and all_finite(tmp_path / "last.npz")


def test_bad_data_and_sizes_are_refused_up_front():
    with pytest.raises(ValueError, match="NaN"):
        train(tiny_vae(), np.full((32, 6), np.nan, np.float32), epochs=1, batch_size=16, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="larger than the 32 training examples"):
        train(tiny_vae(), X, epochs=1, batch_size=64, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="epochs and batch_size must be >= 1"):
        train(tiny_vae(), X, epochs=0, batch_size=16, rng=np.random.default_rng(0))


# ------------------------------------------------- best.npz never stale
def test_a_kill_between_best_and_last_is_repaired_by_resume(tmp_path, monkeypatch):
    """Files go best.npz -> history.csv -> last.npz. Kill the run while it writes last.npz of
    epoch 2 (a new best): resume redoes epoch 2 and best.npz ends consistent with history."""
    import aigc_np.training as training

    scores = {1: 5.0, 2: 3.0, 3: 4.0}  # by epoch; 2 steps per epoch, so epoch = optimizer.t // 2
    real_save = training.save_checkpoint

    def dies_on_second_last(model, path, epoch=0, **kw):
        if os.path.basename(str(path)) == "last.npz" and epoch == 2:
            raise KeyboardInterrupt  # the kill
        return real_save(model, path, epoch=epoch, **kw)
    monkeypatch.setattr(training, "save_checkpoint", dies_on_second_last)
    opts = dict(batch_size=16, out_dir=tmp_path, best_key="fd", higher_is_better=False)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_vae(), X, epochs=3, rng=np.random.default_rng(0),
              score_fn=lambda m: {"fd": scores[m.optimizer.t // 2]}, **opts)
    assert read_metadata(tmp_path / "best.npz")["epoch"] == 2  # written before history and last
    assert read_metadata(tmp_path / "last.npz")["epoch"] == 1
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    history = resume(tiny_vae(), X, epochs=3, rng=np.random.default_rng(0),
                     score_fn=lambda m: {"fd": scores[m.optimizer.t // 2]}, **opts)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert read_metadata(tmp_path / "best.npz")["epoch"] == 2 == min(history, key=lambda r: r["fd"])["epoch"]


# --------------------------------------------------------- the schedule
def test_learning_rates_drop_to_a_quarter_after_decay_after_epochs_and_resume_keeps_them(tmp_path):
    seen = []
    vae = tiny_vae(lr=1e-3)
    original = vae.train_step
    vae.train_step = lambda xb: seen.append(vae.optimizer.lr) or original(xb)
    train(vae, X, epochs=4, batch_size=16, rng=np.random.default_rng(0), out_dir=tmp_path, decay_after=2)
    assert seen == [1e-3] * 4 + [2.5e-4] * 4
    again = tiny_vae(lr=1e-3)
    train(again, X, epochs=3, batch_size=16, rng=np.random.default_rng(0), out_dir=tmp_path / "b", decay_after=2)
    resumed = tiny_vae(lr=1e-3)
    resume(resumed, X, epochs=4, batch_size=16, rng=np.random.default_rng(0), out_dir=tmp_path / "b",
           decay_after=2)
    assert resumed.optimizer.lr == 2.5e-4
    for key in vae.params:
        np.testing.assert_array_equal(resumed.params[key], vae.params[key])


# ------------------------------------------------------------ progress
def test_progress_shows_the_whole_runs_elapsed_time_and_eta():
    clock, out = RunClock(total=20), io.StringIO()
    for epoch in range(2):
        p = Progress(10, label=f"epoch {epoch + 1}/2", stream=out, run=clock)
        for step in range(1, 11):
            p.update(step, items=4)
    lines = out.getvalue().splitlines()
    assert clock.done == 20 and len(lines) == 2
    assert all("(run 0:00 elapsed, ETA 0:00)" in line for line in lines)
    assert RunClock(5).describe() == "run 0:00 elapsed, ETA 0:00"


def test_a_run_starts_by_removing_the_temp_files_a_killed_save_left(tmp_path):
    stale = tmp_path / ".last.npz.abcd1234.part"
    stale.write_bytes(b"x" * 1000)
    other = tmp_path / ".notes.abcd1234.part"
    other.write_bytes(b"keep")
    train(tiny_vae(), X, epochs=1, batch_size=16, rng=np.random.default_rng(0), out_dir=tmp_path)
    assert not stale.exists() and other.exists() and (tmp_path / "last.npz").exists()
