"""The language-model and diffusion checkpoints are checked like the image models' ones:
a config edited to describe a huge model is refused from the headers, before anything is built."""

import numpy as np
import pytest

from aigc_np.checkpoint import save_checkpoint, validate_checkpoint
from aigc_np.kinds import build_model
from cli_helpers import edited_checkpoint


@pytest.fixture
def gpt_checkpoint(tmp_path):
    config = {"n_layer": 1, "n_head": 2, "n_embd": 8, "block_size": 8, "vocab": "abcdef"}
    path = tmp_path / "gpt.npz"
    save_checkpoint(build_model("gpt", config, rng=np.random.default_rng(0)), path)
    return path


@pytest.fixture
def ddpm_checkpoint(tmp_path):
    path = tmp_path / "ddpm.npz"
    save_checkpoint(build_model("ddpm", {"width": 4, "groups": 2}, np.random.default_rng(0)), path)
    return path


def test_an_intact_text_and_diffusion_checkpoint_validates(gpt_checkpoint, ddpm_checkpoint):
    assert validate_checkpoint(gpt_checkpoint)["kind"] == "gpt"
    assert validate_checkpoint(ddpm_checkpoint)["kind"] == "ddpm"


@pytest.mark.parametrize("changes", [{"n_layer": 2000}, {"n_embd": 10**6}, {"n_layer": "many"}, {"vocab": 7}])
def test_an_edited_gpt_config_is_refused_naming_the_file(gpt_checkpoint, tmp_path, changes):
    bad = edited_checkpoint(gpt_checkpoint, tmp_path / "edited.npz", **changes)
    with pytest.raises(ValueError, match="edited.npz"):
        validate_checkpoint(bad)


@pytest.mark.parametrize("changes", [{"width": 4000}, {"width": "wide"}])
def test_an_edited_diffusion_config_is_refused_naming_the_file(ddpm_checkpoint, tmp_path, changes):
    bad = edited_checkpoint(ddpm_checkpoint, tmp_path / "edited.npz", **changes)
    with pytest.raises(ValueError, match="edited.npz"):
        validate_checkpoint(bad)
