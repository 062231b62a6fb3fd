"""Every Layer subclass in aigc_np, found automatically, passes a float64 gradient check.

A layer added anywhere under aigc_np/ (say a student's GroupNorm) is picked
up here with no test written for it: it only needs an ``example_*`` spec
(or the inherited default, a (3, 4) input).
"""
import importlib
import pkgutil

import numpy as np
import pytest

import aigc_np
from aigc_np.gradcheck import check_layer
from aigc_np.layers import Layer


def all_layer_classes():
    for info in pkgutil.walk_packages(aigc_np.__path__, "aigc_np."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    found, todo = {}, [Layer]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("aigc_np.") and not sub.__name__.startswith("_"):
                found[f"{sub.__module__}.{sub.__name__}"] = sub
    return [found[k] for k in sorted(found)]


LAYERS = all_layer_classes()


def test_discovery_finds_the_known_layers():
    names = {cls.__name__ for cls in LAYERS}
    assert {"Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Flatten", "Reshape", "Dropout",
            "BatchNormalization", "LayerNormalization", "Conv2D", "Conv2DTranspose", "Sequential"} <= names


@pytest.mark.parametrize("cls", LAYERS, ids=[cls.__name__ for cls in LAYERS])
def test_layer_passes_gradient_check(cls):
    rng = np.random.default_rng(0)
    for mode in ("train", "eval"):
        layer, x = cls.example(rng)
        getattr(layer, mode)()
        errors = check_layer(layer, x, rng=rng)
        assert max(errors.values()) <= 1e-6, f"{cls.__name__} ({mode} mode): {errors}"


def test_a_new_layer_is_discovered_and_a_wrong_backward_is_caught():
    class Square(Layer):  # what a student might add in aigc_np/my_layers.py
        def forward(self, x):
            self._cache = x
            return self._remember_output(x * x)

        def backward(self, dy):
            return dy * self._cache  # bug: the derivative of x^2 is 2x

    Square.__module__ = "aigc_np.my_layers"
    assert Square in all_layer_classes()
    layer, x = Square.example(np.random.default_rng(0))
    assert check_layer(layer, x)["x"] > 0.1
