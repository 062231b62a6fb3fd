"""The helpers the lessons share: their common options and RESULT line, the figures, the ring rounds."""
import os

import numpy as np
import pytest

from aigc_np.lesson import lesson_parser, parse_lesson_args, result_line
from aigc_np.plotting import originals_over_reconstructions, plot_codes, plot_history, save_labelled_grid
from aigc_np.toy_gan import plot_game_snapshots, ring_players, train_on_ring
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
