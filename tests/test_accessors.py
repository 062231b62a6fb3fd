"""The read-only views the lessons show: attention weights and LSTM gates, checked against a recomputation."""
import numpy as np
import pytest

from aigc_np.layers import LSTM, CausalSelfAttention


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_attention_weights_before_any_forward_is_a_clear_error():
    layer, _ = CausalSelfAttention.example(np.random.default_rng(0))
    with pytest.raises(ValueError, match="CausalSelfAttention: attention_weights needs a forward"):
        layer.attention_weights


def test_attention_weights_are_causal_rows_of_probabilities_that_make_the_output():
    layer, x = CausalSelfAttention.example(np.random.default_rng(0))     # x (N, T, C)
    y = layer.forward(x)
    p = layer.attention_weights
    n, t, c = x.shape
    h = layer.n_head
    assert p.shape == (n, h, t, t)
    assert np.all(p[..., np.triu_indices(t, k=1)[0], np.triu_indices(t, k=1)[1]] == 0)   # no look ahead
    assert np.all(p[..., np.tril_indices(t)[0], np.tril_indices(t)[1]] > 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    # A recomputation from the parameters: P = softmax(Q K^T / sqrt(d), masked), and Y = P V Wo + bo.
    q, k, v = (x @ layer.params["Wqkv"]).reshape(n, t, 3, h, c // h).transpose(2, 0, 3, 1, 4)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(c // h) + np.triu(np.full((t, t), -np.inf), k=1)
    expected = np.exp(s - s.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(p, expected / expected.sum(axis=-1, keepdims=True), rtol=1e-12)
    merged = (p @ v).transpose(0, 2, 1, 3).reshape(n, t, c)
    np.testing.assert_allclose(merged @ layer.params["Wo"] + layer.params["bo"], y, rtol=1e-12)
    with pytest.raises(ValueError):
        p[0, 0, 0, 0] = 0.5                                              # read-only
    layer.forward(x[:, :3])                                              # the last forward's, not the first's
    assert layer.attention_weights.shape == (n, h, 3, 3)


def test_lstm_gates_before_any_forward_is_a_clear_error():
    layer, _ = LSTM.example(np.random.default_rng(0))
    with pytest.raises(ValueError, match="LSTM: gates needs a forward"):
        layer.gates


@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_gates_lie_in_their_ranges_and_match_a_recomputation(with_state):
    rng = np.random.default_rng(1)
    layer, x = LSTM.example(rng)                                         # x (N, T, D)
    n, steps, _ = x.shape
    units = layer.units
    h, c = (rng.standard_normal((n, units)), rng.standard_normal((n, units))) if with_state else \
        (np.zeros((n, units)), np.zeros((n, units)))
    out = layer.forward(x, (h, c) if with_state else None)
    gates = layer.gates
    assert sorted(gates) == ["f", "g", "i", "o"]
    assert all(gate.shape == (n, steps, units) for gate in gates.values())
    for name in "ifo":
        assert np.all((gates[name] > 0) & (gates[name] < 1)), name
    assert np.all((gates["g"] > -1) & (gates["g"] < 1))
    for t in range(steps):                                               # the cell, step by step
        a = x[:, t] @ layer.params["Wx"] + h @ layer.params["Wh"] + layer.params["b"]
        i, f, g, o = sigmoid(a[:, :units]), sigmoid(a[:, units:2 * units]), \
            np.tanh(a[:, 2 * units:3 * units]), sigmoid(a[:, 3 * units:])
        for name, expected in zip("ifgo", (i, f, g, o)):
            np.testing.assert_allclose(gates[name][:, t], expected, rtol=1e-12, err_msg=f"{name} at t={t}")
        c = f * c + i * g
        h = o * np.tanh(c)
        np.testing.assert_allclose(out[:, t], h, rtol=1e-12)
    with pytest.raises(ValueError):
        gates["f"][0, 0, 0] = 0.5                                        # read-only
