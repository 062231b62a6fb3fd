"""models.sizes: parameter and buffer counts from a config match the built model."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.models.registry import DEFAULT_CONFIGS, build_model
from aigc_np.models.sizes import buffer_count, param_count


def counts_of(model):
    return model.num_params(), int(sum(b.size for b in model.buffers.values()))


@pytest.mark.parametrize("kind", list(DEFAULT_CONFIGS))
def test_counts_match_the_built_model_at_the_defaults(kind):
    model = build_model(kind)
    assert (param_count(kind, {}), buffer_count(kind, {})) == counts_of(model)
    assert param_count(kind, DEFAULT_CONFIGS[kind]) == model.num_params()


widths = st.lists(st.integers(1, 9), min_size=0, max_size=3)
small_configs = {
    "ae": st.fixed_dictionaries({"latent_dim": st.integers(1, 5), "hidden": widths}),
    "vae": st.fixed_dictionaries({"latent_dim": st.integers(1, 5), "hidden": widths}),
    "cvae": st.fixed_dictionaries({"latent_dim": st.integers(1, 5), "hidden": widths,
                                   "n_classes": st.integers(1, 12)}),
    "gan": st.fixed_dictionaries({"latent_dim": st.integers(1, 5), "g_hidden": widths, "d_hidden": widths,
                                  "d_dropout": st.sampled_from([0.0, 0.3]), "ema": st.sampled_from([0.0, 0.9])}),
    "cgan": st.fixed_dictionaries({"latent_dim": st.integers(1, 5), "g_hidden": widths, "d_hidden": widths,
                                   "n_classes": st.integers(1, 12), "ema": st.sampled_from([0.0, 0.9])}),
    "wgan-gp": st.fixed_dictionaries({"latent_dim": st.integers(1, 5), "g_hidden": widths,
                                      "critic_hidden": widths, "ema": st.sampled_from([0.0, 0.9])}),
    "dcgan": st.fixed_dictionaries({"latent_dim": st.integers(1, 5),
                                    "width": st.sampled_from([0.01, 0.02, 0.03, 0.05]),
                                    "d_width": st.sampled_from([None, 0.01, 0.04]),
                                    "dropout": st.sampled_from([0.0, 0.3]), "ema": st.sampled_from([0.0, 0.9])}),
}


def test_every_registry_kind_has_a_strategy():
    assert set(small_configs) == set(DEFAULT_CONFIGS)


@pytest.mark.parametrize("kind", list(DEFAULT_CONFIGS))
@settings(max_examples=10)
@given(data=st.data())
def test_counts_match_the_built_model_at_small_configs(kind, data):
    config = data.draw(small_configs[kind])
    model = build_model(kind, config, rng=np.random.default_rng(0))
    assert (param_count(kind, config), buffer_count(kind, config)) == counts_of(model), config


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match=r"param_count: unknown model kind 'vqvae'"):
        param_count("vqvae", {})
