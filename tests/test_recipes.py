"""Recipes: one source of truth that the CLI, the lessons and the demo read."""
import re
from pathlib import Path

import pytest

from aigc_np.models.registry import DEFAULT_CONFIGS, KINDS, RECIPES, SELECT, build_model, recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_default_recipe_that_builds(kind):
    r = recipe(kind)
    assert set(r) == {"config", "train", "select", "about", "result"}
    assert set(r["config"]) == set(DEFAULT_CONFIGS[kind])
    assert {"epochs", "batch_size", "decay_at", "eval_every"} <= set(r["train"])
    assert r["select"] == SELECT[kind]


def test_every_recipe_builds_a_model_and_names_its_result():
    for kind, recipes in RECIPES.items():
        for name in recipes:
            r = recipe(kind, name)
            assert r["result"] and r["about"]
            unknown = set(RECIPES[kind][name]["config"]) - set(DEFAULT_CONFIGS[kind])
            assert not unknown, (kind, name, unknown)
    build_model("dcgan", recipe("dcgan", "article")["config"])


def test_the_gan_recipes_are_the_lessons_and_the_article_recipe_is_plain():
    gan = recipe("gan")["config"]
    assert (gan["lr"], gan["lr_d"], gan["r1"], gan["r1_every"], gan["ema"]) == (4e-4, 8e-4, 1.0, 4, 0.9995)
    plain = recipe("gan", "article")["config"]
    assert plain == DEFAULT_CONFIGS["gan"] and plain["lr"] == 2e-4 and plain["lr_d"] is None
    assert recipe("gan", "article")["train"]["batch_size"] == 64
    with pytest.raises(ValueError, match="no recipe 'fast'"):
        recipe("gan", "fast")


@pytest.mark.parametrize("lesson", ["07_gan_mnist.py", "08_dcgan.py"])
def test_gan_lessons_read_the_registry_instead_of_carrying_a_recipe(lesson):
    text = (ROOT / "lessons" / lesson).read_text()
    assert re.search(r'recipe\("(gan|dcgan)", args\.recipe\)', text)
    for flag in ("--lr", "--lr-d", "--r1", "--batch-size", "--decay-at", "--plain"):
        assert f'"{flag}"' not in text, flag


def test_the_demo_reads_demo_recipes():
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    for kind in ("vae", "gan", "dcgan", "cvae"):
        assert re.search(rf"train {kind} --recipe demo", demo), kind
        assert "demo" in RECIPES[kind]
    assert "aigc_np.tools.montage" in demo


def test_docs_cli_lists_exactly_the_registrys_recipes():
    from aigc_np.models.registry import recipes_markdown

    assert recipes_markdown() in (ROOT / "docs" / "cli.md").read_text(), \
        "docs/cli.md's recipe table differs from the registry: paste aigc_np.models.registry.recipes_markdown()"
