"""The diffusion layers: GroupNormalization, SiLU, Upsample2x and the embeddings (float64 checks at 1e-6)."""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.gradcheck import check_layer
from aigc_np.layers import GroupNormalization, LabelEmbedding, SiLU, SinusoidalEmbedding, Upsample2x, backend

TOL = 1e-6
seeds = st.integers(0, 2**32 - 1)


def built(layer, input_shape, dtype=np.float64, seed=0):
    layer.build(input_shape, np.random.default_rng(seed), dtype)
    return layer


@pytest.mark.parametrize("path", ["reference", "fast"])      # the reference's backward is Exercise 13
@given(n=st.integers(1, 3), groups=st.integers(1, 3), per_group=st.integers(1, 3),
       spatial=st.sampled_from([(), (3,), (2, 3), (3, 2)]), seed=seeds)
def test_groupnorm_gradients_over_groups_and_shapes(path, n, groups, per_group, spatial, seed):
    rng = np.random.default_rng(seed)
    shape = (groups * per_group,) + spatial
    if per_group * int(np.prod(spatial)) < 4:
        # A group of 2 numbers normalizes to +-1 whatever x is: its dx is all round-off.
        shape = (groups * per_group, 4)
    layer = built(GroupNormalization(groups), shape, seed=seed)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, shape[0])  # not the trivial gamma = 1, beta = 0
    layer.params["beta"][:] = rng.standard_normal(shape[0])
    with backend.reference() if path == "reference" else contextlib.nullcontext():
        errors = check_layer(layer, rng.standard_normal((n,) + shape), rng=rng)
    assert max(errors.values()) <= TOL, errors


def test_groupnorm_normalizes_each_group_of_each_example():
    rng = np.random.default_rng(0)
    x = 3.0 + 2.0 * rng.standard_normal((4, 6, 5, 5))
    y = built(GroupNormalization(3, epsilon=1e-8), (6, 5, 5)).forward(x)
    groups = y.reshape(4, 3, -1)
    np.testing.assert_allclose(groups.mean(axis=2), 0.0, atol=1e-10)
    np.testing.assert_allclose(groups.var(axis=2), 1.0, rtol=1e-6)
    # One group = layer norm over (C, H, W); one example's output does not depend on the others.
    alone = built(GroupNormalization(3, epsilon=1e-8), (6, 5, 5)).forward(x[:1])
    np.testing.assert_allclose(alone, y[:1], rtol=1e-12)


def test_groupnorm_rejects_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match=r"GroupNormalization.*divisible by groups=4.*\(6, 2, 2\)"):
        GroupNormalization(4).build((6, 2, 2), None, np.float64)
    with pytest.raises(ValueError, match="GroupNormalization: groups must be a positive int"):
        GroupNormalization(0)


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=seeds)
def test_silu_gradients_and_values(shape, seed):
    rng = np.random.default_rng(seed)
    x = 3 * rng.standard_normal((2,) + tuple(shape))
    layer = SiLU()
    assert max(check_layer(layer, x, rng=rng).values()) <= TOL
    np.testing.assert_allclose(layer.forward(x), x / (1 + np.exp(-x)), rtol=1e-12)


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4), seed=seeds)
def test_upsample2x_copies_pixels_and_sums_gradients(n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    layer = built(Upsample2x(), (c, h, w))
    x = rng.standard_normal((n, c, h, w))
    y = layer.forward(x)
    assert y.shape == (n, c, 2 * h, 2 * w)
    for a in (0, 1):
        for b in (0, 1):
            np.testing.assert_array_equal(y[:, :, a::2, b::2], x)
    assert max(check_layer(layer, x, rng=rng).values()) <= TOL


@given(dim=st.sampled_from([2, 4, 8]), seed=seeds)
def test_sinusoidal_embedding_values_and_gradient(dim, seed):
    rng = np.random.default_rng(seed)
    layer = built(SinusoidalEmbedding(dim), (1,))
    t = rng.uniform(0, 5, (3, 1))
    y = layer.forward(t)
    w = 10000.0 ** (-np.arange(dim // 2) / (dim // 2))
    np.testing.assert_allclose(y, np.concatenate([np.sin(t * w), np.cos(t * w)], axis=1), rtol=1e-12)
    assert max(check_layer(layer, t, rng=rng).values()) <= TOL


def test_label_embedding_is_a_table_lookup():
    layer = built(LabelEmbedding(5, 3), (5,))
    y = layer.forward(np.eye(5)[[4, 0, 4]])
    np.testing.assert_array_equal(y, layer.params["E"][[4, 0, 4]])
    layer.backward(np.ones((3, 3)))
    np.testing.assert_array_equal(layer.grads["E"].sum(axis=1), [3, 0, 0, 0, 6])  # only rows 0 and 4


@pytest.mark.parametrize("make,shape", [(lambda: GroupNormalization(2), (4, 3, 3)), (SiLU, (3, 2)),
                                        (Upsample2x, (2, 2, 2)), (lambda: SinusoidalEmbedding(4), (1,)),
                                        (lambda: LabelEmbedding(3, 2), (3,))],
                         ids=["GroupNormalization", "SiLU", "Upsample2x", "SinusoidalEmbedding", "LabelEmbedding"])
def test_float32_in_float32_out_and_backward_is_repeatable(make, shape):
    layer = built(make(), shape, np.float32)
    x = np.random.default_rng(0).standard_normal((2,) + shape).astype(np.float32)
    y = layer.forward(x)
    dy = np.ones_like(y)
    dx1, dx2 = layer.backward(dy), layer.backward(dy)
    assert y.dtype == dx1.dtype == np.float32
    np.testing.assert_array_equal(dx1, dx2)
