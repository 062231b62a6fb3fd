"""Initializers, atomic file writes, weight files, image grids and progress."""
import io
import os

import numpy as np
import pytest

from aigc_np.initializers import dcgan_normal, get_initializer, glorot_uniform, he_normal
from aigc_np.io import atomic_write, load_weights, save_weights
from aigc_np.layers import BatchNormalization, Dense, Sequential
from aigc_np.plotting import image_grid, save_image_grid
from aigc_np.progress import Progress


def test_glorot_uniform_limits_and_variance():
    w = glorot_uniform((300, 200), np.random.default_rng(0))
    limit = np.sqrt(6 / 500)
    assert np.abs(w).max() <= limit
    assert abs(w.var() - limit ** 2 / 3) < 0.02 * limit ** 2 / 3


def test_conv_fans_use_receptive_field():
    w = glorot_uniform((8, 4, 5, 5), np.random.default_rng(0))  # fan_in 100, fan_out 200
    assert np.abs(w).max() <= np.sqrt(6 / 300)


def test_he_normal_is_truncated_with_variance_two_over_fan_in():
    w = he_normal((400, 300), np.random.default_rng(0))
    assert abs(w.var() - 2 / 400) < 0.03 * 2 / 400
    assert np.abs(w).max() <= 2 * np.sqrt(2 / 400) / 0.87962566103423978 + 1e-12


def test_dcgan_normal_std():
    w = dcgan_normal((500, 400), np.random.default_rng(0))
    assert abs(w.std() - 0.02) < 0.0005 and abs(w.mean()) < 0.0005


def test_unknown_initializer_is_named():
    with pytest.raises(ValueError, match="unknown initializer 'xavier'"):
        get_initializer("xavier")


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("crash mid-write")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["w.bin"]  # no temporary left behind


def model(seed):
    return Sequential([Dense(4), BatchNormalization()], input_shape=(3,), rng=np.random.default_rng(seed))


def test_weights_round_trip(tmp_path):
    a, b = model(0), model(1)
    a.forward(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))  # move running stats
    save_weights(a, tmp_path / "m.npz", epoch=3)
    extra = load_weights(b, tmp_path / "m.npz")
    assert int(extra["epoch"]) == 3
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    for k in a.buffers:
        np.testing.assert_array_equal(a.buffers[k], b.buffers[k])


def test_load_weights_errors_name_the_file(tmp_path):
    small = Sequential([Dense(2)], input_shape=(3,), rng=np.random.default_rng(0))
    save_weights(small, tmp_path / "small.npz")
    with pytest.raises(ValueError, match=r"small.npz: 'param/0.W' has shape \(3, 2\), the model expects \(3, 4\)"):
        load_weights(Sequential([Dense(4)], input_shape=(3,), rng=np.random.default_rng(0)), tmp_path / "small.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_weights(small, tmp_path / "bad.npz")


def test_image_grid_layout():
    images = np.arange(5)[:, None, None] * np.ones((5, 2, 3))
    grid = image_grid(images, nrow=3, pad=1, pad_value=-1)
    assert grid.shape == (2 * 3 - 1, 3 * 4 - 1)
    assert grid[0, 0] == 0 and grid[0, 4] == 1 and grid[0, 8] == 2 and grid[3, 4] == 4
    assert grid[3, 8] == -1  # the empty sixth cell
    with pytest.raises(ValueError, match=r"image_grid.*\(4, 4\)"):
        image_grid(np.zeros((4, 4)))


def test_save_image_grid_writes_png(tmp_path):
    path = save_image_grid(np.random.default_rng(0).uniform(-1, 1, (12, 1, 28, 28)), tmp_path / "g.png",
                           value_range=(-1, 1))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_progress_prints_on_a_non_terminal_every_k_steps():
    out = io.StringIO()
    p = Progress(total=4, label="epoch 1", every=2, stream=out)
    for step in range(1, 5):
        p.update(step, items=10, loss=0.5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("epoch 1 4/4  loss=0.5") and "img/s" in lines[-1]
