"""The one training loop: plans, scores and best.npz, divergence, kills between files, resume, the lock."""
import dataclasses
import io
import os

import numpy as np
import pytest

import aigc_np.runfolder as runfolder
from aigc_np.checkpoint import read_metadata
from aigc_np.kinds import build_model
from aigc_np.models import VAE
from aigc_np.plan import EpochBatches, Plan
from aigc_np.progress import Progress, RunClock
from aigc_np.runfolder import FolderBusy, RunFolder
from aigc_np.training import TrainingDiverged, train

X = np.random.default_rng(0).uniform(0, 1, (32, 6)).astype(np.float32)


def tiny_vae(lr=1e-3):
    return VAE(latent_dim=2, hidden=(4,), input_shape=(6,), rng=np.random.default_rng(1), lr=lr)


def epochs(n, **options):
    """n epochs of 2 steps (32 examples, batch 16)."""
    return Plan.epochs(n, 16, len(X), **options)


def all_finite(path):
    with np.load(path, allow_pickle=False) as data:
        return all(np.isfinite(data[k]).all() for k in data.files if data[k].dtype.kind == "f")


# ------------------------------------------------------------ plans and scores
def test_an_epoch_plan_is_a_view_of_steps():
    plan = Plan.epochs(3, 10, 45, eval_every=2, decay_at=0.5)
    assert (plan.steps, plan.every, plan.eval_every, plan.epoch_steps) == (12, 4, 8, 4)
    assert [plan.lr_at(s, 1.0) for s in (3, 4)] == [1.0, 0.25]   # after int(0.5 * 3) = 1 epoch
    assert Plan.epochs(2, 10, 45, max_steps_per_epoch=2).steps == 4
    with pytest.raises(ValueError, match="larger than the 45 training examples"):
        Plan.epochs(1, 64, 45)
    with pytest.raises(ValueError, match="eval_every .* must be a multiple of every"):
        Plan(steps=10, batch_size=2, every=4, eval_every=6)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        Plan(steps=0, batch_size=2, every=1, eval_every=1)


def test_epoch_batches_draw_one_permutation_per_epoch_and_keep_labels_with_images():
    images, labels = np.arange(12.0)[:, None], np.arange(12) % 3
    batches = EpochBatches((images, labels), batch_size=4, epoch_steps=3)
    rng = np.random.default_rng(0)
    epoch = [batches.batch(s, rng) for s in range(3)]
    seen = np.concatenate([b[0][:, 0] for b in epoch])
    assert sorted(seen) == list(range(12))                           # each example once per epoch
    assert all(np.array_equal(b[1], b[0][:, 0].astype(int) % 3) for b in epoch)
    assert epoch[0][1].dtype.kind == "i"                             # labels stay integers
    with pytest.raises(ValueError, match="NaN"):
        EpochBatches((np.full((4, 2), np.nan),), 2, 2)


def test_eval_every_and_after_the_last_step():
    calls = []
    history = train(tiny_vae(), (X,), epochs(5, eval_every=2), rng=np.random.default_rng(0),
                    score=lambda m: calls.append(1) or {"score": float(len(calls))})
    assert [("score" in row) for row in history] == [False, True, False, True, True]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5] and history[-1]["step"] == 10


def test_best_checkpoint_and_early_stopping(tmp_path):
    scores = iter([5.0, 3.0, 4.0, 3.5, 3.2, 1.0])  # lower is better; best at epoch 2
    history = train(tiny_vae(), (X,), epochs(6, patience=3), rng=np.random.default_rng(0), out_dir=tmp_path,
                    score=lambda m: {"fd": next(scores)}, select=("fd", False))
    assert len(history) == 5  # epochs 3, 4, 5 brought no improvement: stop before epoch 6
    assert read_metadata(tmp_path / "best.npz")["step"] == 4
    with np.load(tmp_path / "best.npz", allow_pickle=False) as data:
        assert float(data["extra/fd"]) == 3.0
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("step,epoch,")


def test_a_step_plan_for_any_batches_object_with_a_schedule():
    class Windows:
        def batch(self, step, rng):
            return (X[rng.integers(0, len(X), 8)],)
    seen = []
    vae = tiny_vae(lr=1e-3)
    original = vae.train_step
    vae.train_step = lambda xb: seen.append(vae.optimizer.lr) or original(xb)
    plan = Plan(steps=7, batch_size=8, every=3, eval_every=3, lr_at=lambda step, lr: lr * (step + 1))
    history = train(vae, Windows(), plan, rng=np.random.default_rng(0), score=lambda m: {"s": 1.0})
    assert [row["step"] for row in history] == [3, 6, 7] and "epoch" not in history[0]
    assert all("s" in row for row in history)
    assert seen == pytest.approx([1e-3 * k for k in range(1, 8)])


# ------------------------------------------------------------- divergence
def test_exploding_loss_stops_at_the_step_with_a_hint_and_saves_nothing_bad(tmp_path):
    """A huge learning rate: the loss runs to 1e14 and beyond before anything turns NaN.
    Training must stop at the step, name it and the limit, and keep the last good (finite) checkpoint."""
    gan = build_model("gan", {"g_hidden": [8], "d_hidden": [8], "lr": 10.0, "latent_dim": 4},
                      rng=np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(-1, 1, (64, 784)).astype(np.float32)
    with pytest.raises(TrainingDiverged, match=r"step \d+ \(epoch \d+\).*smaller learning rate"):
        train(gan, (x,), Plan.epochs(50, 16, 64), rng=np.random.default_rng(2), out_dir=tmp_path)
    if (tmp_path / "last.npz").exists():
        assert all_finite(tmp_path / "last.npz")


def test_a_loss_beyond_the_limit_names_the_limit():
    vae = tiny_vae()
    with pytest.raises(TrainingDiverged, match=r"step 1 \(epoch 1\): loss = .*beyond the divergence limit 0.5 "
                                               r"\(a test's limit\)"):
        train(vae, (X,), epochs(1), rng=np.random.default_rng(0), limit=(0.5, "a test's limit"))


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
    with pytest.raises(TrainingDiverged, match=r"step 3 \(epoch 2\): a value stopped being finite"):
        train(vae, (X,), epochs(3), rng=np.random.default_rng(0), out_dir=tmp_path)
    assert read_metadata(tmp_path / "last.npz")["step"] == 2


def test_other_errors_in_a_step_are_not_called_divergence():
    vae = tiny_vae()
    vae.train_step = lambda xb: (_ for _ in ()).throw(ValueError("Dense: expected input (N, 6)"))
    with pytest.raises(ValueError, match="expected input"):
        train(vae, (X,), epochs(1), rng=np.random.default_rng(0))


def test_non_finite_parameters_stop_the_run_before_they_are_saved(tmp_path):
    vae = tiny_vae()
    original = vae.train_step

    def poison(xb):
        out = original(xb)
        if vae.optimizer.t == 4:  # the last step of epoch 2
            next(iter(vae.params.values()))[...] = np.inf
        return out
    vae.train_step = poison
    with pytest.raises(TrainingDiverged, match=r"step 4 \(epoch 2\).*param/.* is not finite"):
        train(vae, (X,), epochs(3), rng=np.random.default_rng(0), out_dir=tmp_path)
    assert read_metadata(tmp_path / "last.npz")["step"] == 2 and all_finite(tmp_path / "last.npz")


# ------------------------------------------------- best.npz never stale
def test_a_kill_between_best_and_last_is_repaired_by_resume(tmp_path, monkeypatch):
    """Files go best.npz -> history.csv -> last.npz. Kill the run while it writes last.npz of
    epoch 2 (a new best): resume redoes epoch 2 and best.npz ends consistent with history."""
    scores = {1: 5.0, 2: 3.0, 3: 4.0}  # by epoch; 2 steps per epoch, so epoch = optimizer.t // 2
    real_save = runfolder.save_checkpoint

    def dies_on_second_last(model, path, step=0, **kw):
        if os.path.basename(str(path)) == "last.npz" and step == 4:
            raise KeyboardInterrupt  # the kill
        return real_save(model, path, step=step, **kw)
    monkeypatch.setattr(runfolder, "save_checkpoint", dies_on_second_last)
    opts = dict(out_dir=tmp_path, select=("fd", False), score=lambda m: {"fd": scores[m.optimizer.t // 2]})
    with pytest.raises(KeyboardInterrupt):
        train(tiny_vae(), (X,), epochs(3), rng=np.random.default_rng(0), **opts)
    assert read_metadata(tmp_path / "best.npz")["step"] == 4  # written before history and last
    assert read_metadata(tmp_path / "last.npz")["step"] == 2
    monkeypatch.setattr(runfolder, "save_checkpoint", real_save)
    history = train(tiny_vae(), (X,), epochs(3), rng=np.random.default_rng(0), resume=True, **opts)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert read_metadata(tmp_path / "best.npz")["step"] == 4 == min(history, key=lambda r: r["fd"])["step"]


# --------------------------------------------------------- resume and the schedule
def test_learning_rates_drop_after_decay_at_and_resume_is_bit_identical(tmp_path):
    seen = []
    vae = tiny_vae(lr=1e-3)
    original = vae.train_step
    vae.train_step = lambda xb: seen.append(vae.optimizer.lr) or original(xb)
    train(vae, (X,), epochs(4, decay_at=0.5), rng=np.random.default_rng(0), out_dir=tmp_path)
    assert seen == [1e-3] * 4 + [2.5e-4] * 4
    first_three = dataclasses.replace(epochs(3), lr_at=epochs(4, decay_at=0.5).lr_at)   # the same schedule
    train(tiny_vae(lr=1e-3), (X,), first_three, rng=np.random.default_rng(0), out_dir=tmp_path / "b")
    resumed = tiny_vae(lr=1e-3)
    history = train(resumed, (X,), epochs(4, decay_at=0.5), rng=np.random.default_rng(99), out_dir=tmp_path / "b",
                    resume=True)
    assert resumed.optimizer.lr == 2.5e-4 and [row["epoch"] for row in history] == [1, 2, 3, 4]
    for key in vae.params:
        np.testing.assert_array_equal(resumed.params[key], vae.params[key])


def test_the_training_settings_are_kept_in_each_checkpoint(tmp_path):
    train(tiny_vae(), (X,), epochs(1), rng=np.random.default_rng(0), out_dir=tmp_path,
          train_settings={"epochs": 1, "batch_size": 16})
    assert read_metadata(tmp_path / "last.npz")["train"] == {"epochs": 1, "batch_size": 16}


# ------------------------------------------------------------ the folder
def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    with RunFolder(tmp_path / "run"):
        with pytest.raises(FolderBusy, match="another run is training into this folder"):
            train(tiny_vae(), (X,), epochs(1), rng=np.random.default_rng(0), out_dir=tmp_path / "run")
    train(tiny_vae(), (X,), epochs(1), rng=np.random.default_rng(0), out_dir=tmp_path / "run")  # free again


def test_a_run_starts_by_removing_the_temp_files_a_killed_save_left(tmp_path):
    stale = tmp_path / ".last.npz.abcd1234.part"
    stale.write_bytes(b"x" * 1000)
    grid = tmp_path / ".samples_epoch_001.png.abcd1234.part"
    grid.write_bytes(b"x")
    other = tmp_path / ".notes.abcd1234.part"
    other.write_bytes(b"keep")
    train(tiny_vae(), (X,), epochs(1), rng=np.random.default_rng(0), out_dir=tmp_path,
          grid=lambda m: np.zeros((4, 28, 28)))
    assert not stale.exists() and not grid.exists() and other.exists()
    assert (tmp_path / "last.npz").exists() and (tmp_path / "samples_epoch_001.png").exists()


def test_clear_removes_an_earlier_runs_files_only(tmp_path):
    for name in ("best.npz", "last.npz", "history.csv", "samples_epoch_001.png", "notes.txt"):
        (tmp_path / name).write_text("x")
    with RunFolder(tmp_path) as folder:
        folder.clear()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["notes.txt"]


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
