"""Kind.counts: parameter and buffer counts from a config (nothing built) match the built model."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_np.kinds import KINDS, build_model


def param_count(kind, config):
    return KINDS[kind].counts({**KINDS[kind].defaults, **config})[0]


def buffer_count(kind, config):
    return KINDS[kind].counts({**KINDS[kind].defaults, **config})[1]


def counts_of(model):
    return model.num_params(), int(sum(b.size for b in model.buffers.values()))


@pytest.mark.parametrize("kind", [k for k in KINDS if KINDS[k].family.name != "text"])
def test_counts_match_the_built_model_at_the_defaults(kind):
    model = build_model(kind)
    assert (param_count(kind, {}), buffer_count(kind, {})) == counts_of(model)


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
    "ddpm": st.fixed_dictionaries({"width": st.sampled_from([2, 4, 6]), "groups": st.just(2),
                                   "ema": st.sampled_from([0.0, 0.9])}),
    "cddpm": st.fixed_dictionaries({"width": st.sampled_from([2, 4]), "groups": st.just(2),
                                    "n_classes": st.integers(1, 12), "ema": st.sampled_from([0.0, 0.9])}),
    "ldm": st.fixed_dictionaries({"latent_channels": st.integers(1, 3), "ae_width": st.integers(1, 4),
                                  "width": st.integers(1, 6), "depth": st.integers(0, 2),
                                  "emb_dim": st.sampled_from([2, 4]), "ema": st.sampled_from([0.0, 0.9])}),
    "cldm": st.fixed_dictionaries({"latent_channels": st.integers(1, 2), "ae_width": st.integers(1, 3),
                                   "width": st.integers(1, 5), "depth": st.integers(0, 1), "emb_dim": st.just(2),
                                   "n_classes": st.integers(1, 12), "ema": st.sampled_from([0.0, 0.9])}),
    "gpt": st.fixed_dictionaries({"n_layer": st.integers(1, 2), "n_head": st.just(2), "n_embd": st.sampled_from([2, 4, 8]),
                                  "block_size": st.integers(1, 9),
                                  "vocab": st.text(min_size=1, max_size=30, alphabet=st.characters()).map(
                                      lambda t: "".join(dict.fromkeys(t)))}),
    "lstm": st.fixed_dictionaries({"n_layer": st.integers(1, 3), "n_embd": st.integers(1, 6),
                                   "hidden": st.integers(1, 6), "block_size": st.integers(1, 9),
                                   "vocab": st.sampled_from(["ab", "abc", "中文诗"])}),
}


def test_every_kind_has_a_strategy():
    assert set(small_configs) == set(KINDS)


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=10)
@given(data=st.data())
def test_counts_match_the_built_model_at_small_configs(kind, data):
    config = data.draw(small_configs[kind])
    model = build_model(kind, config, rng=np.random.default_rng(0))
    assert (param_count(kind, config), buffer_count(kind, config)) == counts_of(model), config


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match=r"build_model: unknown model kind 'vqvae'"):
        build_model("vqvae", {})
