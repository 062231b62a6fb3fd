"""The benchmark runs and writes its JSON schema (no timing is asserted)."""
import json

import numpy as np

from collections import Counter

from aigc_np.tools.bench import (activations_mb, gan_step_matmuls, gan_step_needed, gflop, layer_matmuls, main, model_mb,
                           step_cases, text_model, text_step_needed, wgan_step_matmuls, wgan_step_needed)
from aigc_np.layers import Conv2D, Dense, ReLU, Sequential
from aigc_np.kinds import build_model


def test_bench_json_schema(tmp_path):
    assert main(["--steps", "1", "--only", "vae", "--no-layers", "--no-sampling", "--peak-n", "256", "--ab",
                 "--json", str(tmp_path / "b.json")]) == 0
    result = json.loads((tmp_path / "b.json").read_text())
    assert set(result) == {"env", "peak_gflops", "steps", "ab", "convs", "layers", "sampling"}
    assert result["sampling"] == []
    assert [r["run"] for r in result["ab"]] == [1, 2, 3] and {r["name"] for r in result["ab"]} == {"vae"}
    for r in result["ab"]:
        assert abs(r["fast_over_reference"] - r["fast_ms"] / r["reference_ms"]) < 1e-9
    (step,) = result["steps"]
    assert step["name"] == "vae"
    for key in ("ms_median", "matmul_needed_ms", "matmul_needed_ratio", "matmul_all_ms", "matmul_all_ratio",
                "gflops_needed", "share_of_peak", "images_per_s", "peak_mb", "model_mb", "peak_ratio"):
        assert step[key] > 0, key
    assert step["workspace_mb"] >= 0
    assert abs(step["matmul_needed_ratio"] - step["ms_median"] / step["matmul_needed_ms"]) < 1e-9
    assert abs(step["matmul_all_ratio"] - step["ms_median"] / step["matmul_all_ms"]) < 1e-9
    assert len(step["needed_shapes"]) == step["products_needed"] < step["products_all"]
    assert abs(step["peak_ratio"] - step["peak_mb"] / step["model_mb"]) < 1e-9


def test_matmul_shapes_follow_the_layers():
    rng = np.random.default_rng(0)
    mlp = Sequential([Dense(7), Dense(3)], input_shape=(5,), rng=rng)
    fwd, bwd = layer_matmuls(mlp, 4)
    assert fwd == [(4, 5, 7), (4, 7, 3)]
    assert bwd == [(5, 4, 7), (4, 7, 5), (7, 4, 3), (4, 3, 7)]
    conv = Conv2D(8, 5, strides=2, padding="same")
    conv.build((3, 28, 28), rng)
    # cols^T layout: y (8, 2*14*14) = W (8, 3*25) @ cols (3*25, 2*14*14)
    assert layer_matmuls(conv, 2) == ([(8, 3 * 25, 2 * 14 * 14)],
                                      [(8, 2 * 14 * 14, 3 * 25), (3 * 25, 8, 2 * 14 * 14)])
    gan = build_model("gan", rng=rng)
    # D-step: G fwd (5) + D fwd/bwd on 2B (4 + 8); G-step: G fwd (5) + D fwd/bwd (4 + 8) + G bwd (10)
    assert len(gan_step_matmuls(gan, 64)) == 5 + 4 + 8 + 5 + 4 + 8 + 10


def test_model_mb_counts_parameters_and_every_layer_output():
    net = Sequential([Dense(7), ReLU(), Dense(3)], input_shape=(5,), rng=np.random.default_rng(0))
    params = (5 * 7 + 7 + 7 * 3 + 3) * 4                    # float32
    activations = 10 * (7 + 7 + 3) * 4                       # batch 10
    assert abs(model_mb([(net, 10)]) - (params + activations) / 2**20) < 1e-12


def test_needed_products_are_the_listed_subset_of_all_products():
    rng = np.random.default_rng(0)
    gan = build_model("gan", rng=rng)
    # D step: G fwd (5) + D on 2B: fwd 4, dW 4, dx inside D 3; G step: G fwd 5, D fwd 4, every D dx 4,
    # G dW 5, dx inside G 4 -- no D dW in the G step, no dx into the images or into z
    assert len(gan_step_needed(gan, 64)) == 5 + 4 + 4 + 3 + 5 + 4 + 4 + 5 + 4
    wgan = build_model("wgan-gp", rng=rng)
    # per critic step: G fwd 5, critic on 2B 3 + 3 + 2, penalty fwd 3, dx 3, double backward 2 x 3
    assert len(wgan_step_needed(wgan, 64)) == 5 * (5 + 3 + 3 + 2 + 3 + 3 + 6) + 5 + 3 + 3 + 5 + 4
    assert len(wgan_step_matmuls(wgan, 64)) == 5 * (5 + 3 + 6 + 3 + 6 + 6 + 6) + 5 + 3 + 6 + 10
    for case in step_cases(0.25, only=("mlp_gan", "vae", "dcgan_lesson", "wgan_gp", "cnn")):
        needed, every = Counter(case["needed"]), Counter(case["all"])
        assert needed and not needed - every, case["name"]          # a sub-multiset of every product
        assert gflop(case["needed"]) < gflop(case["all"])


def test_text_steps_report_tokens_and_sampling(tmp_path):
    assert main(["--steps", "1", "--only", "gpt", "--no-layers", "--no-convs", "--peak-n", "256",
                 "--sampling-chars", "8", "--json", str(tmp_path / "t.json")]) == 0
    result = json.loads((tmp_path / "t.json").read_text())
    (step,) = result["steps"]
    assert step["name"] == "gpt" and step["batch"] == 12
    assert step["images_per_s"] is None and step["s_per_epoch_bundled"] is None
    assert abs(step["tokens_per_s"] - 12 * 64 / step["ms_median"] * 1e3) < 1e-6
    assert step["model_mb"] > 0 and step["peak_mb"] > 0
    assert [r["name"] for r in result["sampling"]] == ["gpt", "lstm"]
    for r in result["sampling"]:
        assert r["chars"] == 8 and r["cached_chars_per_s"] > 0 and r["cacheless_chars_per_s"] > 0
        assert abs(r["speedup"] - r["cached_chars_per_s"] / r["cacheless_chars_per_s"]) < 1e-9


def test_text_needed_products():
    gpt, b = text_model("gpt")
    c = gpt.config
    t, d, heads, n = c["block_size"], c["n_embd"], c["n_head"], c["n_layer"]
    needed = Counter(text_step_needed(gpt, b))
    g, hd = b * heads, d // heads
    assert needed[(g, t, hd, t)] == 2 * n              # S = Q K^T and dP = dY V^T, batched over B * heads
    assert needed[(g, t, t, hd)] == 4 * n              # Y = P V, dV = P^T dY, dQ = dS K, dK = dS^T Q
    assert needed[(b * t, d, 4 * d)] == 2 * n          # the MLP's up-projection and its down-projection's dx, over B * T
    lstm, b = text_model("lstm")
    t, h = lstm.config["block_size"], lstm.config["hidden"]
    needed = Counter(text_step_needed(lstm, b))
    assert needed[(b, h, 4 * h)] == needed[(b, 4 * h, h)] == t - 1      # h_{t-1} Wh and dh_{t-1}, without step 0
    # the GPT needs every product it runs (the embeddings' gradients are row sums, not products);
    # the LSTM runs two it does not need
    gpt_case, lstm_case = step_cases(0.25, only=("gpt", "lstm"))
    for case in (gpt_case, lstm_case):
        needed, every = Counter(case["needed"]), Counter(case["all"])
        assert needed and not needed - every, case["name"]
    assert Counter(gpt_case["needed"]) == Counter(gpt_case["all"])
    assert len(lstm_case["all"]) - len(lstm_case["needed"]) == 2


def test_activations_mb_counts_what_a_forward_keeps():
    keep = []
    mb = activations_mb(lambda: keep.append(np.ones((256, 1024), np.float32)))   # 1 MiB kept
    assert abs(mb - 1.0) < 0.05
    assert activations_mb(lambda: np.ones((256, 1024), np.float32).sum()) < 0.05  # nothing kept


def test_conv_table_covers_the_unet_and_gives_shares_of_the_peak(monkeypatch):
    from aigc_np.tools import bench
    monkeypatch.setattr(bench, "time_matmuls", lambda shapes, repeats=7: 2.0)      # the table, not the timings
    monkeypatch.setattr(bench, "_timeit", lambda step, n, warmup=3: np.full(n, 4.0))
    rows = bench.bench_convs(0.25, repeats=1, only=("unet",), peak=10.0)
    assert len(rows) == 18 and all(r["case"] == "unet" and r["batch"] == 32 for r in rows)
    for r in rows:
        assert abs(r["products_gflops"] - gflop(r["shapes"]) / 2e-3) < 1e-9
        assert abs(r["layer_share_of_peak"] - r["layer_gflops"] / 10.0) < 1e-12
        assert abs(r["products_share_of_peak"] - r["products_gflops"] / 10.0) < 1e-12
