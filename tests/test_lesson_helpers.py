"""The helpers the lessons share: their common options and RESULT line, the figures, the ring rounds."""
import os

import numpy as np
import pytest

from statistics import NormalDist

from aigc_np.evaluation.judge import describe_judge_scores
from aigc_np.course.latent import interpolation_rows, normal_manifold, traversal_rows
from aigc_np.course.lesson import lesson_parser, parse_lesson_args, result_line
from aigc_np.evaluation.metrics import metrics_table
from aigc_np.plotting import (originals_over_reconstructions, plot_codes, plot_history, plot_panels,
                              save_grid_panels, save_labelled_grid)
from aigc_np.course.toy import ring_centres
from aigc_np.course.toy_gan import plot_game_snapshots, plot_ring_samples, ring_players, train_on_ring, watch_game
from aigc_np.training import spaced_rows

DOC = "Lesson 99: a test.\n\nMore text."


def test_lesson_parser_has_the_common_options_and_the_docs_first_line(tmp_path):
    parser = lesson_parser(DOC, out=str(tmp_path / "out" / "99_test"), threads="1")
    assert parser.description == "Lesson 99: a test."
    args = parser.parse_args([])
    assert (args.quick, args.seed, args.threads) == (False, 0, "1")


def test_a_quick_run_writes_under_out_quick_and_unknown_arguments_are_ignored(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    parser = lesson_parser(DOC, out="out/99_test")
    args = parse_lesson_args(parser, ["--quick", "-f", "kernel.json"])  # a notebook kernel's own arguments
    assert args.out == "out/quick/99_test" and os.path.isdir(args.out)
    assert "BLAS threads" in capsys.readouterr().out
    args = parse_lesson_args(parser, ["--quick", "--out", "mine"])  # an explicit folder is kept
    assert args.out == "mine"


def test_a_recipe_other_than_default_gets_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = lesson_parser(DOC, out="out/99_test")
    parser.add_argument("--recipe", default="default")
    assert parse_lesson_args(parser, ["--recipe", "article"], by_recipe=True).out == "out/99_test_article"
    assert parse_lesson_args(parser, ["--quick", "--recipe", "article"], by_recipe=True).out == \
        "out/quick/99_test_article"
    assert parse_lesson_args(parser, [], by_recipe=True).out == "out/99_test"


def test_result_line_marks_a_quick_run():
    parser = lesson_parser(DOC, out="out/99_test")
    real, quick = parser.parse_args([]), parser.parse_args(["--quick"])
    assert result_line(real, "99", "x 1.0", "python lessons/99_test.py") == \
        "\nRESULT lesson 99: x 1.0. Reproduce: python lessons/99_test.py"
    assert result_line(quick, "99", "x 1.0", "python lessons/99_test.py") == \
        "\n(--quick smoke test: numbers are not results)\nRESULT lesson 99: x 1.0. Reproduce: " \
        "python lessons/99_test.py --quick"


def test_originals_over_reconstructions_interleaves_rows():
    originals, reconstructions = np.zeros((20, 2, 2)), np.ones((20, 2, 2))
    rows = originals_over_reconstructions(originals, reconstructions).reshape(4, 10, 2, 2)
    assert rows.shape == (4, 10, 2, 2)
    assert [float(r.mean()) for r in rows] == [0.0, 1.0, 0.0, 1.0]


def test_the_figures_are_written(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (20, 28, 28))
    path = save_labelled_grid(images, tmp_path / "grid.png", nrow=10, figsize=(4, 2), title="t",
                              rows={0: "a", 1: "b"}, cols={0: "-1", 9: "1"}, xlabel="z1")
    assert os.path.getsize(path) > 0
    assert os.path.getsize(plot_codes(rng.standard_normal((50, 2)), np.arange(50) % 10, tmp_path / "codes.png",
                                      title="codes", circles=(1, 2))) > 0
    history = [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.0, "fd": 9.0}]
    assert os.path.getsize(plot_history(history, {"loss": "loss", "FD": "fd", "-loss": lambda r: -r["loss"]},
                                        tmp_path / "curves.png", title="t")) > 0
    gx, gy = np.meshgrid(np.linspace(-3, 3, 7), np.linspace(-3, 3, 7))
    snaps = [{"step": s, "samples": rng.standard_normal((30, 2)), "surface": rng.uniform(0, 1, gx.shape)}
             for s in (0, 10)]
    assert os.path.getsize(plot_game_snapshots(snaps, gx, gy, 0.05, tmp_path / "game.png", "game")) > 0
    assert os.path.getsize(plot_ring_samples({"a": snaps[0]["samples"], "b": snaps[1]["samples"]},
                                             tmp_path / "ring.png", "two runs")) > 0
    panels = [{"curves": {"x": ([1, 2], [3.0, 4.0]), "y": ([1, 2], [1.0, 0.5])}, "marker": "o"},
              {"curves": {"FD": ([1, 2], [9.0, 8.0])}, "baseline": (3.5, "real"), "ylabel": "FD"}]
    assert os.path.getsize(plot_panels(panels, tmp_path / "panels.png", title="t")) > 0
    for across in (True, False):
        assert os.path.getsize(save_grid_panels({"a": images[:10], "b": images[10:]}, tmp_path / "grids.png",
                                                nrow=5, across=across)) > 0
    with pytest.raises(ValueError, match="plot_panels"):
        plot_panels([], tmp_path / "none.png")
    with pytest.raises(ValueError, match="save_grid_panels"):
        save_grid_panels({}, tmp_path / "none.png")


def test_spaced_rows_keeps_about_n_rows_with_the_first_and_the_last():
    history = [{"epoch": e} for e in range(1, 101)]
    rows = spaced_rows(history)
    assert rows[0]["epoch"] == 1 and rows[-1]["epoch"] == 100 and len(rows) == 11
    assert spaced_rows(history[:3]) == history[:3]


def test_ring_players_are_the_lessons_mlps():
    G, D = ring_players(np.random.default_rng(0), d_name="critic")
    assert (G.name, D.name) == ("generator", "critic")
    assert G.num_params() == 2 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2
    assert D.num_params() == 2 * 64 + 64 + 64 * 64 + 64 + 64 + 1


class _Optimizer:
    def __init__(self):
        self.lr, self.steps = 1.0, 0

    def step(self):
        self.steps += 1


class _Game:
    """Stands in for a GAN: records what the rounds ask of it."""

    def __init__(self):
        self.opt_g, self.opt_d = _Optimizer(), _Optimizer()
        self.rates, self.d_losses = [], 0

    def sample_z(self, n):
        return np.zeros((n, 2))

    def discriminator_loss(self, x_real, z):
        self.d_losses += 1

    def train_step(self, x_real):
        assert x_real.shape == (16, 2)
        self.rates.append(self.opt_g.lr)
        return {"d_loss": 1.0}


def test_train_on_ring_drops_the_rates_for_the_last_quarter_and_adds_d_steps():
    game, seen = _Game(), []
    train_on_ring(game, 8, np.random.default_rng(0), std=0.05, batch_size=16, d_steps=3,
                  on_step=lambda step, losses: seen.append((step, losses["d_loss"])))
    assert game.rates == [1.0] * 6 + [0.25] * 2 and game.opt_d.lr == 0.25
    assert game.d_losses == game.opt_d.steps == 2 * 8
    assert seen == [(s, 1.0) for s in range(1, 9)]
    with pytest.raises(ValueError, match="train_on_ring"):
        train_on_ring(game, 0, np.random.default_rng(0), std=0.05)


class _Critic:
    def forward(self, x):
        return np.zeros((len(x), 1))                     # D(x) = sigmoid(0) = 1/2 everywhere


class _WatchedGame(_Game):
    """A _Game that also samples (every z onto the blob centres, in turn) and has a D."""

    def __init__(self):
        super().__init__()
        self.D, self.rounds = _Critic(), 0

    def sample(self, z):
        return ring_centres(8, 2.0)[np.arange(len(z)) % 8]

    def train_step(self, x_real):
        self.rounds += 1
        return {"d_loss": 1.0, "g_loss": float(self.rounds)}


def test_watch_game_logs_every_100_rounds_and_snapshots_where_asked(capsys):
    game = _WatchedGame()
    grid = np.meshgrid(np.linspace(-3, 3, 5), np.linspace(-3, 3, 4))
    log, snaps, seconds = watch_game(game, 250, np.random.default_rng(0), 0.05, real=np.zeros((10, 2)),
                                     fixed_z=np.zeros((16, 2)), grid=grid, snap_at={0, 100}, label="t",
                                     batch_size=16)
    assert [r["step"] for r in log] == [100, 200, 250] and seconds >= 0
    assert [r["g_loss"] for r in log] == [50.5, 150.5, 225.5]      # the mean of rounds 1-100, 101-200, 201-250
    assert all(r["d_loss"] == 1.0 and r["D(real)"] == r["D(fake)"] == 0.5 and r["modes"] == 8 for r in log)
    assert [s["step"] for s in snaps] == [0, 100] and snaps[0]["surface"].shape == (4, 5)
    assert "t step   250" in capsys.readouterr().out


def test_metrics_table_aligns_floats_and_ints():
    table = metrics_table({"GAN": {"fd": 12.3456, "classes": 10}, "real": {"fd": 3.5, "classes": 9}},
                          [("FD", "fd"), ("covered", "classes")], width=8)
    assert table.splitlines() == ["model         FD covered", "-" * 24, "GAN       12.346      10",
                                  "real       3.500       9"]


def test_describe_judge_scores_is_one_line_of_the_judges_verdict():
    scores = {"confident": 0.8312, "classes_covered": 9, "min_class_fraction": 0.0,
              "class_fractions": np.array([0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0])}
    assert describe_judge_scores(scores) == ("confident 83.1%, digits present 9/10, rarest digit 0.0%, "
                                             "per digit [20 10 10 10 10 10 10 10 10  0] %")


def _decode(z):
    """A stand-in decoder: code (N, D) -> a 1 x D "image" (N, 1, 1, D) holding the code."""
    return np.asarray(z, dtype=np.float64)[:, None, None, :]


def test_interpolation_rows_go_from_a_to_b_in_even_steps():
    a, b = np.array([[0.0, 1.0], [2.0, 2.0]]), np.array([[1.0, 3.0], [2.0, -2.0]])
    rows = interpolation_rows(_decode, a, b, steps=5)
    assert rows.shape == (2, 5, 1, 2)
    np.testing.assert_allclose(rows[:, :, 0], np.linspace(a, b, 5).transpose(1, 0, 2))
    ends = (np.full((2, 1, 2), -9.0), np.full((2, 1, 2), 9.0))
    framed = interpolation_rows(_decode, a, b, steps=5, ends=ends)
    assert framed.shape == (2, 7, 1, 2) and np.all(framed[:, 0] == -9) and np.all(framed[:, -1] == 9)
    with pytest.raises(ValueError, match="interpolation_rows"):
        interpolation_rows(_decode, a, b[:1], steps=5)


def test_traversal_rows_sweep_one_dimension_each_and_keep_the_rest():
    code, values = np.array([0.5, -1.0, 2.0]), np.array([-3.0, 0.0, 3.0])
    rows = traversal_rows(_decode, code, [2, 0], values)[:, :, 0]             # (2 dims, 3 values, D)
    np.testing.assert_allclose(rows[0, :, 2], values)
    np.testing.assert_allclose(rows[1, :, 0], values)
    np.testing.assert_allclose(rows[0, :, :2], np.tile(code[:2], (3, 1)))
    np.testing.assert_allclose(rows[1, :, 1:], np.tile(code[1:], (3, 1)))
    with pytest.raises(ValueError, match="traversal_rows"):
        traversal_rows(_decode, code, [3], values)


def test_normal_manifold_puts_z1_left_to_right_and_z2_bottom_to_top():
    images, q = normal_manifold(_decode, n=4, lo=0.1, hi=0.9)
    np.testing.assert_allclose(q, [NormalDist().inv_cdf(p) for p in np.linspace(0.1, 0.9, 4)], rtol=1e-12)
    cells = images[:, 0].reshape(4, 4, 2)                                      # (row, column, (z1, z2))
    np.testing.assert_allclose(cells[0, :, 0], q, rtol=1e-6)                   # z1 grows to the right
    np.testing.assert_allclose(cells[:, 0, 1], q[::-1], rtol=1e-6)             # z2 grows upwards
    with pytest.raises(ValueError, match="normal_manifold"):
        normal_manifold(_decode, n=4, lo=0.0)
