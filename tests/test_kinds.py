"""The table of kinds: one entry per kind, recipes with reasons, schemas that refuse bad settings."""
import re
from pathlib import Path

import numpy as np
import pytest

from aigc_np.kinds import FAMILIES, KINDS, MAX_PARAMS, build_model, get_kind, recipe
from aigc_np.kinds.schema import Choice, Float, Int, Text, Widths, check_settings

ROOT = Path(__file__).resolve().parents[1]
VOCAB = "abcdefgh"


def complete(kind, config):
    return {**config, "vocab": VOCAB} if KINDS[kind].family.name == "text" else config


def test_the_table_holds_the_eleven_kinds_of_three_families():
    assert list(KINDS) == ["ae", "vae", "cvae", "gan", "dcgan", "cgan", "wgan-gp", "ddpm", "cddpm", "ldm", "cldm", "gpt", "lstm"]
    assert sorted(FAMILIES) == ["diffusion", "image", "text"]
    assert {k.name for k in KINDS.values() if k.conditional} == {"cvae", "cgan", "cddpm", "cldm"}
    with pytest.raises(ValueError, match=r"where: unknown model kind 'nosuch'; expected one of \['ae'"):
        get_kind("nosuch", "where")


@pytest.mark.parametrize("name", list(KINDS))
def test_every_recipe_is_valid_builds_and_says_why_for_every_setting(name):
    kind = KINDS[name]
    assert "default" in kind.recipes and kind.about
    for recipe_name, r in kind.recipes.items():
        assert r.about, recipe_name
        for setting, (value, why) in r.settings.items():
            assert setting in kind.settings or setting in kind.family.train_settings, (recipe_name, setting)
            assert isinstance(why, str) and len(why) > 10, (recipe_name, setting)
        config, train = kind.recipe(recipe_name)
        check_settings(name, kind.family.train_settings, train, "test")
        kind.check(complete(name, config), "test")
    config = complete(name, kind.recipe("default")[0])
    model = kind.build_model(config, np.random.default_rng(0))
    params, buffers = kind.counts(config)
    assert model.num_params() == params and sum(b.size for b in model.buffers.values()) == buffers
    assert model.kind == name and model.config == config


def test_recipes_are_the_lessons_and_the_article_recipe_is_plain():
    gan, train = recipe("gan")
    assert (gan["lr"], gan["lr_d"], gan["r1"], gan["r1_every"], gan["ema"]) == (4e-4, 8e-4, 1.0, 4, 0.9995)
    assert (train["epochs"], train["batch_size"], train["decay_at"]) == (120, 32, 0.75)
    plain, train = recipe("gan", "article")
    assert plain == KINDS["gan"].defaults and plain["lr"] == 2e-4 and plain["lr_d"] is None
    assert train["batch_size"] == 64
    names, train = recipe("gpt", "names")
    assert (names["corpus"], names["block_size"], train["steps"]) == ("names", 16, 9000)
    with pytest.raises(ValueError, match="gan has no recipe 'fast'"):
        recipe("gan", "fast")


@pytest.mark.parametrize("name,setting,value,expected", [
    ("gpt", "n_head", 0, "config['n_head']: expected an int in 1..64"),
    ("gpt", "n_head", 3, "n_embd 128 must be divisible by n_head 3"),
    ("gpt", "dropout", 5, "config['dropout']: expected a number in [0, 1)"),
    ("gpt", "vocab", "aab", "vocab must list distinct characters"),
    ("gpt", "n_layer", True, "config['n_layer']: expected an int"),
    ("lstm", "lr", -1.0, "config['lr']: expected a number in (0, 10]"),
    ("ddpm", "T", 1, "config['T']: expected an int in 2..10000"),
    ("ddpm", "T", 10 ** 9, "config['T']: expected an int in 2..10000"),
    ("ddpm", "ema", 2.0, "config['ema']: expected a number in [0, 1)"),
    ("ddpm", "prediction", "x0", "config['prediction']: expected one of ['eps', 'v']"),
    ("cddpm", "p_uncond", 7.0, "config['p_uncond']: expected a number in [0, 1)"),
    ("ddpm", "steps", 2000, "steps 2000 (DDIM's sampling steps) must be at most T = 1000"),
    ("ddpm", "groups", 3, "width 16 must be divisible by groups 3"),
    ("ldm", "emb_dim", 3, "emb_dim 3 must be even"),
    ("cldm", "time_distribution", "beta", "config['time_distribution']: expected one of ['uniform', 'logit-normal']"),
    ("vae", "hidden", [0], "config['hidden']: expected a list of 0..64 layer widths"),
    ("gan", "lr_d", -1.0, "config['lr_d']: expected a number in (0, 10] or null"),
])
def test_every_bad_setting_is_refused_naming_who_the_kind_and_the_setting(name, setting, value, expected):
    config = {**complete(name, KINDS[name].defaults), setting: value}
    with pytest.raises(ValueError, match=re.escape(expected)) as e:
        KINDS[name].check(config, "ckpt.npz")
    assert str(e.value).startswith("ckpt.npz: ")


def test_a_config_too_large_for_a_checkpoint_is_refused_before_anything_is_built():
    config = {**complete("gpt", KINDS["gpt"].defaults), "n_layer": 5, "n_embd": 1024}
    with pytest.raises(ValueError, match=f"more than the {MAX_PARAMS:,} a checkpoint may hold"):
        KINDS["gpt"].check(config, "train gpt")


def test_a_vocabulary_of_thousands_of_characters_is_a_valid_setting():
    chars = "".join(chr(0x4E00 + i) for i in range(5000))   # 5,000 Han characters
    config = {**KINDS["gpt"].defaults, "vocab": chars, "n_layer": 1, "n_embd": 16, "n_head": 2}
    assert KINDS["gpt"].check(config, "t")["vocab"] == chars
    assert build_model("gpt", config).num_params() == KINDS["gpt"].counts(config)[0]


def test_the_schema_settings_describe_what_they_accept():
    assert Int(1, 3).accepts(2) and not Int(1, 3).accepts(2.0) and not Int(1, 3).accepts(True)
    assert Float(0, 1, open_high=True).describe() == "a number in [0, 1)"
    assert not Float(0, 1).accepts(float("nan")) and Float(0, 1, nullable=True).accepts(None)
    assert Choice(options=("a",)).accepts("a") and not Choice(options=("a",)).accepts("b")
    assert Text(max_len=3).accepts("abc") and not Text(max_len=3).accepts("abcd") and not Text().accepts("")
    assert Widths().accepts([1, 2]) and Widths().accepts([]) and not Widths().accepts([0])
    assert not Widths().accepts("12") and not Widths().accepts([1] * 65)
    with pytest.raises(ValueError, match=r"unknown gan config keys \['nosuch'\]"):
        check_settings("gan", KINDS["gan"].settings, {**KINDS["gan"].defaults, "nosuch": 1}, "w")
    with pytest.raises(ValueError, match=r"the gan config lacks \['lr'\]"):
        check_settings("gan", KINDS["gan"].settings, {k: v for k, v in KINDS["gan"].defaults.items() if k != "lr"}, "w")


def test_the_demo_reads_demo_recipes():
    """make demo runs its two lanes, which train each image kind with its demo recipe, then the montage."""
    makefile = (ROOT / "Makefile").read_text()
    target = lambda name: makefile.split(f"\n{name}:", 1)[1].split("\n\n", 1)[0]  # noqa: E731
    demo, lanes = target("demo"), target("demo-lane-1") + target("demo-lane-2")
    assert "demo-lane-1 demo-lane-2" in demo
    assert re.search(r"\nDEMO_TRAIN := \$\(PY\) -m aigc_np train .*--recipe demo\n", makefile)
    for kind in ("vae", "gan", "dcgan", "cvae", "ldm"):
        assert len(re.findall(rf"\$\(DEMO_TRAIN\) {kind} ", lanes)) == 1, kind
        assert "demo" in KINDS[kind].recipes
    assert "aigc_np.tools.montage" in demo
