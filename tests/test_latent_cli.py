"""The latent kinds (ldm, cldm) through the one loop and the command line: the two phases' plan, an exact
resume across the switch from autoencoder to denoiser, the flow samplers' flags."""
import numpy as np
import pytest

from aigc_np.checkpoint import load_model
from aigc_np.cli import main
from aigc_np.kinds import build_model, recipe
from aigc_np.kinds.diffusion import DIFFUSION, latent_lr_at
from aigc_np.training import train

TINY = {"ae_width": 2, "latent_channels": 1, "width": 8, "depth": 1, "emb_dim": 4, "ae_steps": 3, "warmup": 2}


def test_plan_runs_the_autoencoder_steps_then_the_denoiser_epochs_with_warm_up_and_cosine():
    config, settings = recipe("cldm")
    plan = DIFFUSION.plan({**settings, "epochs": 20, "eval_every": 20}, (np.zeros((4500, 1, 28, 28)),), config)
    per_epoch = 4500 // settings["batch_size"]
    assert plan.steps == config["ae_steps"] + 20 * per_epoch and plan.eval_every == 20 * per_epoch
    assert plan.every == 2 * per_epoch and plan.epoch_steps == per_epoch
    lr_at = latent_lr_at(10, 30, 4)
    assert [lr_at(k, 1.0) for k in (0, 3)] == pytest.approx([0.25, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 0.3))])
    assert lr_at(10, 1.0) == pytest.approx(0.25) and lr_at(29, 1.0) == pytest.approx(0.1, abs=0.01)
    ldm, ldm_settings = recipe("ldm")   # autoguidance's guide must be taken within the run
    with pytest.raises(ValueError, match="--epochs 20: 340 denoiser steps, fewer than guide_step 2600"):
        DIFFUSION.plan({**ldm_settings, "epochs": 20}, (np.zeros((4500, 1, 28, 28)),), ldm)


def test_resume_across_the_phase_switch_is_bit_identical(tmp_path):
    """Autoencoder, latent scale, both Adams, the EMA and every generator live in the checkpoint."""
    from aigc_np.plan import Plan
    x = np.random.default_rng(0).random((40, 1, 28, 28)).astype(np.float32)

    def run(steps, out, resume=False, seed=0):   # the guide is taken at the denoiser's second step
        model = build_model("ldm", {**TINY, "guide_step": 2, "guidance": 0.5}, rng=np.random.default_rng(1))
        train(model, (x,), Plan(steps=steps, batch_size=8, every=2, eval_every=2, epoch_steps=2),
              rng=np.random.default_rng(seed), out_dir=str(tmp_path / out), resume=resume)
        return model

    straight = run(6, "a")
    run(2, "b")                             # stops inside the autoencoder phase, at an epoch end
    resumed = run(6, "b", resume=True, seed=99)
    assert straight.ae.latent_scale[0] > 0 and straight.optimizer.t == 3 and straight.opt_ae.t == 3
    assert straight.has_guide and "velocity_guide" in straight.parts
    for k, p in straight.params.items():
        np.testing.assert_array_equal(p, resumed.params[k], err_msg=k)
    np.testing.assert_array_equal(straight.ae.latent_scale, resumed.ae.latent_scale)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent_runs")
    for kind in ("ldm", "cldm"):
        assert main(["train", kind, "--out", str(root / kind), "--quick", "--threads", "1"]) == 0
    return root


def test_quick_runs_sample_and_evaluate_from_the_file_alone(runs, tmp_path, capsys):
    model, meta = load_model(runs / "cldm" / "last.npz")
    assert meta["kind"] == "cldm" and model.ae.latent_scale[0] > 0 and "opt_ae" in vars(model)
    assert main(["sample", str(runs / "ldm" / "best.npz"), "--n", "4", "--sampler", "heun", "--sampling-steps", "2",
                 "--out", str(tmp_path / "ldm.npy")]) == 0
    images = np.load(tmp_path / "ldm.npy")
    assert images.shape == (4, 28, 28) and images.dtype == np.float32 and 0 <= images.min() <= images.max() <= 1
    for w in ("0", "1"):                  # the quick recipe takes autoguidance's guide within its steps
        assert main(["sample", str(runs / "ldm" / "best.npz"), "--n", "4", "--sampling-steps", "2", "--seed", "1",
                     "--guidance", w, "--out", str(tmp_path / f"ldm_w{w}.npy")]) == 0
    assert not np.array_equal(np.load(tmp_path / "ldm_w0.npy"), np.load(tmp_path / "ldm_w1.npy"))
    assert main(["sample", str(runs / "cldm" / "best.npz"), "--n", "3", "--label", "7", "--guidance", "2",
                 "--out", str(tmp_path / "sevens.png")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(runs / "ldm" / "last.npz"), "--n", "20", "--json"]) == 0
    assert '"model": "ldm"' in capsys.readouterr().out


@pytest.mark.parametrize("flags,message", [
    (["--sampler", "ddim"], "--sampler ddim: a flow model samples with euler or heun"),
    (["--eta", "0.5"], "--eta: a flow model's ODE samplers add no noise"),
    (["--sampling-steps", "0"], "--sampling-steps 0: expected 1..1000"),
], ids=["sampler", "eta", "steps"])
def test_flags_a_flow_model_cannot_use_are_usage_errors(runs, tmp_path, capsys, flags, message):
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["sample", str(runs / "ldm" / "last.npz"), "--out", str(tmp_path / "x.png"), *flags])
    assert e.value.code == 2 and message in capsys.readouterr().err
