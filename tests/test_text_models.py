"""Whole-model proofs for the GPT and the CharLSTM, and their generation (KV cache, carried state)."""
import numpy as np
import pytest

from aigc_np.gradcheck import rel_error, smooth_numerical_gradient
from aigc_np.text.models import GPT, CharLSTM, gpt_param_count, lstm_param_count
from aigc_np.text.sampling import sample_next


def tiny_gpt(dtype=np.float64, dropout=0.0, block_size=6):
    return GPT(n_layer=2, n_head=2, n_embd=4, block_size=block_size, vocab_size=5, dropout=dropout,
               rng=np.random.default_rng(0), dtype=dtype)


def tiny_lstm(dtype=np.float64):
    return CharLSTM(vocab_size=5, n_embd=3, hidden=4, n_layer=2, block_size=6, rng=np.random.default_rng(0),
                    dtype=dtype)


def unit_scale(model, rng):
    """Redraw every matrix N(0, 1/fan_in): at GPT's 0.02 initial scale many gradient entries
    are ~1e-6 of the largest, below what a finite difference resolves (the maths is the same)."""
    for key, p in model.params.items():
        if p.ndim == 2:
            p[...] = rng.standard_normal(p.shape) / np.sqrt(p.shape[0])


@pytest.mark.parametrize("make", [tiny_gpt, tiny_lstm], ids=["gpt", "lstm"])
def test_whole_model_loss_gradient_wrt_every_parameter(make):
    rng = np.random.default_rng(1)
    model = make()
    unit_scale(model, rng)
    x, y = rng.integers(0, 5, (2, 6)), rng.integers(0, 5, (2, 6))
    model.train()
    model.loss(x, y)
    model.loss_backward()
    analytic = {k: g.copy() for k, g in model.grads.items()}
    # The fourth-order difference (error O(h^4)) with h = 1e-3: some entries are ~1e-5 of the
    # largest, where the round-off of a smaller h (eps |L| / h) would dominate.
    errors = {k: rel_error(analytic[k], smooth_numerical_gradient(lambda: model.loss(x, y), p, h=1e-3))
              for k, p in model.params.items()}
    assert len(errors) == len(model.params) and max(errors.values()) <= 1e-6, errors


def test_param_count_from_the_config_matches_the_built_model():
    gpt = GPT(n_layer=3, n_head=2, n_embd=8, block_size=7, vocab_size=11)
    assert gpt.num_params() == gpt_param_count(n_layer=3, n_embd=8, block_size=7, vocab_size=11)
    lstm = CharLSTM(vocab_size=11, n_embd=5, hidden=6, n_layer=2)
    assert lstm.num_params() == lstm_param_count(n_layer=2, n_embd=5, hidden=6, vocab_size=11)


def test_gpt_cached_logits_equal_the_full_forward():
    model = tiny_gpt(block_size=8).eval()
    rng = np.random.default_rng(2)
    unit_scale(model, rng)
    ids = rng.integers(0, 5, (1, 8))
    full = model.forward(ids)
    caches = [{} for _ in model.blocks]
    steps = [model.infer(ids[:, :3], caches, 0)] + [model.infer(ids[:, t:t + 1], caches, t) for t in range(3, 8)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [tiny_gpt, tiny_lstm], ids=["gpt", "lstm"])
def test_cached_and_uncached_generation_draw_the_same_text(make):
    model = make()
    unit_scale(model, np.random.default_rng(3))
    prompt = np.array([1, 2])
    # 20 new ids: past block_size 6, so the GPT's window moves (and its cache is rebuilt) twice
    cached = model.generate(prompt, 20, temperature=1.0, rng=np.random.default_rng(4))
    plain = model.generate(prompt, 20, temperature=1.0, rng=np.random.default_rng(4), use_cache=False)
    assert cached.shape == (22,) and np.array_equal(cached[:2], prompt)
    np.testing.assert_array_equal(cached, plain)


def test_lstm_generation_carries_the_state():
    model = tiny_lstm().eval()
    unit_scale(model, np.random.default_rng(5))
    ids = np.random.default_rng(6).integers(0, 5, (1, 7))
    full = model.forward(ids)
    first = model.forward(ids[:, :4])
    rest = [model.forward(ids[:, t:t + 1], model.states) for t in range(4, 7)]
    np.testing.assert_allclose(np.concatenate([first] + rest, axis=1), full, rtol=1e-10, atol=1e-12)


def test_temperature_zero_is_greedy():
    model = tiny_gpt(dtype=np.float32)
    unit_scale(model, np.random.default_rng(7))
    out = model.generate([0], 5, temperature=0, rng=np.random.default_rng(8))
    ids = [0]
    for _ in range(5):
        ids.append(int(np.argmax(model.forward(np.array([ids]))[0, -1])))
    assert out.tolist() == ids
    assert model.generate([0], 5, temperature=0, rng=np.random.default_rng(9)).tolist() == ids


def test_top_k_and_top_p_keep_only_the_likely_characters():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    rng = np.random.default_rng(10)
    draws = np.concatenate([sample_next(logits, rng, 1.0, top_k=2) for _ in range(300)])
    assert set(draws) == {0, 1}
    draws = np.concatenate([sample_next(logits, rng, 1.0, top_p=0.79) for _ in range(300)])
    assert set(draws) == {0, 1}                        # 0.5 + 0.3 reaches 0.79
    draws = np.concatenate([sample_next(logits, rng, 1.0, top_p=0.85) for _ in range(300)])
    assert set(draws) == {0, 1, 2}
    frequencies = np.bincount(np.concatenate([sample_next(logits, rng) for _ in range(4000)]), minlength=4) / 4000
    np.testing.assert_allclose(frequencies, [0.5, 0.3, 0.15, 0.05], atol=0.03)


@pytest.mark.parametrize("options, flag", [({"temperature": -0.1}, "--temperature"), ({"top_k": 0}, "--top-k"),
                                           ({"top_p": 0.0}, "--top-p"), ({"top_p": 1.5}, "--top-p")])
def test_bad_sampling_options_raise(options, flag):
    with pytest.raises(ValueError, match=flag):
        tiny_gpt().generate([0], 3, rng=np.random.default_rng(0), **options)


def test_training_steps_lower_the_loss_in_float32():
    rng = np.random.default_rng(11)
    text = np.tile(np.array([0, 1, 2, 3, 4, 3, 2, 1]), 40)
    for model in (GPT(2, 2, 16, 8, 5, rng=np.random.default_rng(0), lr=3e-3),
                  CharLSTM(5, 8, 16, block_size=8, rng=np.random.default_rng(0), lr=1e-2)):
        starts = rng.integers(0, len(text) - 9, 16)
        x, y = text[starts[:, None] + np.arange(8)], text[starts[:, None] + np.arange(1, 9)]
        first = model.loss(x, y)
        for _ in range(40):
            out = model.train_step(x, y)
        assert model.params["head.W"].dtype == np.float32
        assert out["loss"] < 0.5 * first, (type(model).__name__, first, out["loss"])


@pytest.mark.parametrize("make", [tiny_gpt, tiny_lstm], ids=["gpt", "lstm"])
def test_a_batch_of_sequences_equals_each_sequence_alone(make):
    model = make().eval()
    unit_scale(model, np.random.default_rng(12))
    ids = np.random.default_rng(13).integers(0, 5, (3, 6))
    together = model.forward(ids)
    alone = np.concatenate([model.forward(ids[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-13)


def test_sliding_loss_scores_every_character_once_with_at_least_half_a_context():
    from aigc_np.text.evaluation import sliding_loss
    model = tiny_gpt(block_size=6).eval()
    unit_scale(model, np.random.default_rng(14))
    ids = np.random.default_rng(15).integers(0, 5, 40)
    t, s = 6, 3
    nll = []
    for j in range(1, 40):                              # target ids[j], from the window the rule assigns it
        k = 0 if j <= t else -(-(j - t) // s)
        if k * s + t > 39:
            break
        logits = model.forward(ids[None, k * s:k * s + t])[0, j - k * s - 1]
        nll.append(np.log(np.exp(logits).sum()) - logits[ids[j]])
    assert sliding_loss(model, ids, batch_size=4) == pytest.approx(np.mean(nll), rel=1e-10)
