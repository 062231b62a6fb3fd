"""Checkpoints: exact resume, refusal of bad files, atomic saves, divergence."""
import json
import os

import numpy as np
import pytest

import aigc_np.io as aio
from aigc_np.checkpoint import FORMAT_VERSION, load_checkpoint, load_model, read_metadata, save_checkpoint
from aigc_np.kinds import build_model
from aigc_np.models import GAN, VAE, mlp_discriminator, mlp_generator
from aigc_np.plan import Plan
from aigc_np.training import TrainingDiverged, train

X = np.random.default_rng(0).uniform(0, 1, (64, 6)).astype(np.float32)


def tiny_vae(seed=1):
    return VAE(latent_dim=2, hidden=(5,), input_shape=(6,), rng=np.random.default_rng(seed))


def tiny_gan(seed=1):
    rng = np.random.default_rng(seed)
    return GAN(mlp_generator(3, (5, 4), 6, rng=rng), mlp_discriminator((5,), 6, dropout=0.2, rng=rng),
               latent_dim=3, rng=rng)


@pytest.mark.parametrize("make", [tiny_vae, tiny_gan], ids=["vae", "gan"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(make, tmp_path):
    x = X * 2 - 1 if make is tiny_gan else X
    straight = make()
    train(straight, (x,), Plan.epochs(4, 16, len(x)), rng=np.random.default_rng(2), out_dir=tmp_path / "a")
    first = make()
    train(first, (x,), Plan.epochs(2, 16, len(x)), rng=np.random.default_rng(2), out_dir=tmp_path / "b")
    resumed = make(seed=123)  # different initial weights and generators: all must be restored
    history = train(resumed, (x,), Plan.epochs(4, 16, len(x)), rng=np.random.default_rng(99), out_dir=tmp_path / "b",
                    resume=True)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    for k in straight.params:
        np.testing.assert_array_equal(straight.params[k], resumed.params[k], err_msg=k)
    for k in straight.buffers:
        np.testing.assert_array_equal(straight.buffers[k], resumed.buffers[k], err_msg=k)


def test_metadata_describes_the_model(tmp_path):
    model = tiny_vae()
    save_checkpoint(model, tmp_path / "c.npz", step=7, train={"epochs": 3})
    meta = read_metadata(tmp_path / "c.npz")
    assert meta["kind"] == "vae" and meta["step"] == 7 and meta["format_version"] == FORMAT_VERSION
    assert meta["train"] == {"epochs": 3}
    assert "model" in meta["rng_states"]


def test_optimizer_state_round_trips(tmp_path):
    a = tiny_vae()
    a.train_step(X[:16])
    save_checkpoint(a, tmp_path / "c.npz")
    b = tiny_vae(seed=5)
    load_checkpoint(b, tmp_path / "c.npz")
    assert b.optimizer.t == 1
    for key, state in a.optimizer.state.items():
        np.testing.assert_array_equal(state["m"], b.optimizer.state[key]["m"])


def test_wrong_kind_is_refused(tmp_path):
    save_checkpoint(tiny_vae(), tmp_path / "vae.npz")
    with pytest.raises(ValueError, match=r"vae.npz: this is a 'vae' checkpoint, cannot load it into a 'gan'"):
        load_checkpoint(tiny_gan(), tmp_path / "vae.npz")


def test_newer_format_is_refused(tmp_path):
    model = tiny_vae()
    save_checkpoint(model, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["extra/metadata"]))
    meta["format_version"] = FORMAT_VERSION + 1
    arrays["extra/metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "new.npz", **arrays)
    with pytest.raises(ValueError, match=rf"new.npz: checkpoint format version {FORMAT_VERSION + 1} is newer"):
        load_checkpoint(model, tmp_path / "new.npz")
    meta["format_version"] = 1
    arrays["extra/metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(ValueError, match=r"old.npz: checkpoint format version 1 was written by an earlier aigc_np"):
        load_checkpoint(model, tmp_path / "old.npz")


def test_pickle_bearing_file_is_refused(tmp_path):
    model = tiny_vae()
    save_checkpoint(model, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["param/encoder.0.W"] = np.array([{"evil": "object"}], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(ValueError, match=r"evil.npz: refused: the file contains pickled objects"):
        load_checkpoint(model, tmp_path / "evil.npz")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupted_file_gives_clear_error_naming_it(tmp_path, damage):
    model = tiny_vae()
    path = tmp_path / "c.npz"
    save_checkpoint(model, path)
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage])
    with pytest.raises(ValueError, match=r"c.npz: not a readable"):
        load_checkpoint(model, path)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = tiny_vae()
    path = tmp_path / "last.npz"
    save_checkpoint(model, path, step=1)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(aio.os, "replace", crash)
    model.train_step(X[:16])
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, path, step=2)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.npz"]  # the temporary file is gone too
    monkeypatch.undo()
    assert read_metadata(path)["step"] == 1


def test_nan_loss_stops_training_naming_the_step_and_keeps_last_checkpoint(tmp_path):
    model = tiny_vae()
    train(model, (X,), Plan.epochs(1, 16, len(X)), rng=np.random.default_rng(0), out_dir=tmp_path)
    calls = {"n": 0}
    real_step = model.train_step

    def step(xb):
        calls["n"] += 1
        return {"loss": float("nan")} if calls["n"] == 3 else real_step(xb)

    model.train_step = step
    with pytest.raises(TrainingDiverged, match=r"step 7 \(epoch 2\).*last.npz keeps the last good state"):
        train(model, (X,), Plan.epochs(3, 16, len(X)), rng=np.random.default_rng(0), out_dir=tmp_path, resume=True)
    assert read_metadata(tmp_path / "last.npz")["step"] == 4


def test_a_checkpoint_written_before_a_setting_was_added_loads_with_the_value_it_trained_with(tmp_path):
    """A diffusion checkpoint whose config predates ``min_snr`` loads as min_snr = 0 (the plain loss it
    trained with); a setting the kind never had is still refused."""
    model = build_model("ddpm", {"width": 4, "groups": 2, "T": 10, "steps": 2}, rng=np.random.default_rng(0))
    save_checkpoint(model, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["extra/metadata"]))
    del meta["config"]["min_snr"]
    arrays["extra/metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "before.npz", **arrays)
    loaded, meta = load_model(tmp_path / "before.npz")
    assert meta["config"]["min_snr"] == 0.0 and loaded.min_snr == 0.0
    meta["config"]["lr_typo"] = 1.0
    arrays["extra/metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "typo.npz", **arrays)
    with pytest.raises(ValueError, match=r"typo.npz: unknown ddpm config keys \['lr_typo'\]"):
        load_model(tmp_path / "typo.npz")
