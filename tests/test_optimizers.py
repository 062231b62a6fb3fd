"""Optimizers: hand-computed steps, in-place updates, isolation, dtypes, errors.

The expected numbers are worked out by hand in the comments (not recomputed
with the optimizer's own formula), so a wrong formula cannot agree with itself.
Every test runs on both paths (aigc_np.layers.backend): the reference code (Adam's
is Exercise 3) and the fast path that training runs.
"""
import contextlib

import numpy as np
import pytest

from aigc_np.layers import backend
from aigc_np.layers import Layer, Sequential
from aigc_np.optimizers import SGD, Adam, Optimizer, RMSprop


@pytest.fixture(autouse=True, params=["reference", "fast"])
def path(request):
    with backend.reference() if request.param == "reference" else contextlib.nullcontext():
        yield request.param


class FakeModel:
    """The smallest thing an optimizer accepts: params and grads dicts."""

    def __init__(self, dtype=np.float64, **params):
        self.params = {k: np.array(v, dtype=dtype) for k, v in params.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}


class Scale(Layer):
    """y = x * w (element-wise), enough of a layer to test Sequential + optimizer."""

    def _build(self, input_shape, rng):
        self.params["w"] = np.ones(input_shape)

    def forward(self, x):
        self._cache = x
        return self._remember_output(x * self.params["w"])

    def backward(self, dy):
        self.grads["w"] = np.sum(dy * self._cache, axis=0)  # assigned, never accumulated
        return dy * self.params["w"]


def run(opt, model, grads):
    """Apply one step per gradient; return the parameter "p" after each step."""
    history = []
    for g in grads:
        model.grads["p"][...] = g
        opt.step()
        history.append(model.params["p"].copy())
    return np.array(history)


# ---------------------------------------------------------------- hand values
def test_adam_three_steps_by_hand():
    # lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8; two entries, p = [1, 0].
    # Entry 0, gradients 0.5, -1, 2:
    #  t=1: m = 0.1*0.5 = 0.05;  v = 0.001*0.25 = 0.00025
    #       m_hat = 0.05/0.1 = 0.5;  v_hat = 0.00025/0.001 = 0.25;  sqrt = 0.5
    #       p = 1 - 0.1*0.5/(0.5 + 1e-8) = 1 - 0.099999998 = 0.900000002
    #  t=2: m = 0.9*0.05 - 0.1 = -0.055;  v = 0.999*0.00025 + 0.001 = 0.00124975
    #       m_hat = -0.055/0.19 = -0.2894736842;  v_hat = 0.00124975/0.001999 = 0.6251875938
    #       sqrt(v_hat) = 0.7906880509;  step = 0.1*(-0.2894736842)/0.7906880609 = -0.0366103522
    #       p = 0.900000002 + 0.0366103522 = 0.9366103542
    #  t=3: m = 0.9*(-0.055) + 0.2 = 0.1505;  v = 0.999*0.00124975 + 0.004 = 0.00524850025
    #       m_hat = 0.1505/0.271 = 0.5553505535;  v_hat = 0.00524850025/0.002997001 = 1.7512507503
    #       sqrt(v_hat) = 1.3233483103;  step = 0.1*0.5553505535/1.3233483103 = 0.0419655615
    #       p = 0.9366103542 - 0.0419655615 = 0.8946447927
    # Entry 1, constant gradient -3: m_hat = -3 and v_hat = 9 at every t (bias
    # correction makes the average of a constant exact), so each step is
    # 0.1*3/(3 + 1e-8) = 0.0999999997 upwards: 0.0999999997, 0.1999999993, 0.2999999990.
    model = FakeModel(p=[1.0, 0.0])
    opt = Adam(model, lr=0.1)
    history = run(opt, model, [[0.5, -3.0], [-1.0, -3.0], [2.0, -3.0]])
    expected = [[0.900000002, 0.0999999997],
                [0.9366103542, 0.1999999993],
                [0.8946447927, 0.2999999990]]
    np.testing.assert_allclose(history, expected, rtol=0, atol=2e-10)
    assert opt.t == 3
    np.testing.assert_allclose(opt.state["p"]["m"], [0.1505, -3 * (1 - 0.9**3)], rtol=1e-12)


def test_sgd_three_steps_by_hand():
    # lr = 0.1, p = 1, gradients 1, 2, -1.
    grads = [[1.0], [2.0], [-1.0]]
    # plain: p = 1 - 0.1 = 0.9;  0.9 - 0.2 = 0.7;  0.7 + 0.1 = 0.8
    model = FakeModel(p=[1.0])
    np.testing.assert_allclose(run(SGD(model, lr=0.1), model, grads).ravel(), [0.9, 0.7, 0.8])
    # momentum 0.9:  v = -0.1 -> p = 0.9
    #                v = 0.9*(-0.1) - 0.2 = -0.29 -> p = 0.61
    #                v = 0.9*(-0.29) + 0.1 = -0.161 -> p = 0.449
    model = FakeModel(p=[1.0])
    opt = SGD(model, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(run(opt, model, grads).ravel(), [0.9, 0.61, 0.449])
    np.testing.assert_allclose(opt.state["p"]["velocity"], [-0.161])
    # Nesterov: same v, but p += 0.9*v - 0.1*g:
    #   0.9*(-0.1) - 0.1 = -0.19 -> 0.81;  0.9*(-0.29) - 0.2 = -0.461 -> 0.349;
    #   0.9*(-0.161) + 0.1 = -0.0449 -> 0.3041
    model = FakeModel(p=[1.0])
    opt = SGD(model, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(run(opt, model, grads).ravel(), [0.81, 0.349, 0.3041])


def test_rmsprop_three_steps_by_hand():
    # lr = 0.01, rho = 0.9, eps = 1e-7, p = 1, gradients 1, 2, -1:
    #  s = 0.1*1 = 0.1;            sqrt = 0.3162277660; step = 0.01/0.3162278660 = 0.0316227666
    #                              p = 0.9683772334
    #  s = 0.09 + 0.1*4 = 0.49;    sqrt = 0.7;          step = 0.02/0.7000001 = 0.0285714245
    #                              p = 0.9398058089
    #  s = 0.441 + 0.1*1 = 0.541;  sqrt = 0.7355270219; step = -0.01/0.7355271219 = -0.0135956917
    #                              p = 0.9534015006
    model = FakeModel(p=[1.0])
    opt = RMSprop(model, lr=0.01)
    history = run(opt, model, [[1.0], [2.0], [-1.0]])
    np.testing.assert_allclose(history.ravel(), [0.9683772334, 0.9398058089, 0.9534015006],
                               rtol=0, atol=2e-10)
    np.testing.assert_allclose(opt.state["p"]["s"], [0.541], rtol=1e-12)


# ------------------------------------------------------------ Adam behaviour
def test_adam_first_step_is_lr_times_sign_of_gradient():
    # m_hat = g and v_hat = g^2 after one step, so the move is lr * g / (|g| + eps).
    rng = np.random.default_rng(0)
    g = rng.choice([-1, 1], 20) * 10.0 ** rng.uniform(-3, 3, 20)  # 6 orders of magnitude
    model = FakeModel(p=np.zeros(20))
    model.grads["p"][...] = g
    Adam(model, lr=1e-3).step()
    np.testing.assert_allclose(model.params["p"], -1e-3 * np.sign(g), rtol=1e-4)


def test_step_counter_counts_steps_not_parameters():
    model = FakeModel(a=[1.0], b=[2.0], c=[3.0])
    opt = Adam(model)
    assert opt.t == 0
    for expected in (1, 2, 3):
        opt.step()
        assert opt.t == expected


# ------------------------------------------------------------ in place, isolation
def test_two_optimizers_over_two_models_are_independent():
    gen, disc = FakeModel(p=[1.0, 2.0]), FakeModel(p=[3.0])
    gen.grads["p"][...] = 1.0
    disc.grads["p"][...] = 1.0
    opt_g, opt_d = Adam(gen, lr=0.1), Adam(disc, lr=0.1)
    disc_before = disc.params["p"].copy()
    opt_g.step()
    opt_g.step()
    np.testing.assert_array_equal(disc.params["p"], disc_before)
    assert opt_d.t == 0 and not opt_d.state
    gen_before = gen.params["p"].copy()
    opt_d.step()
    np.testing.assert_array_equal(gen.params["p"], gen_before)
    assert opt_g.t == 2 and opt_d.t == 1


@pytest.mark.parametrize("make", [lambda m: SGD(m, lr=0.1, momentum=0.5), lambda m: RMSprop(m),
                                  lambda m: Adam(m)])
def test_sequential_parameters_are_updated_in_place(make):
    model = Sequential([Scale(), Scale()], input_shape=(3,))
    assert sorted(model.params) == ["0.w", "1.w"]
    arrays = [layer.params["w"] for layer in model.layers]
    opt = make(model)
    x = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    model.backward(model.forward(x))  # grads of 0.5 * sum(y^2)
    opt.step()
    for layer, before in zip(model.layers, arrays):
        assert layer.params["w"] is before        # the layer's own array object ...
        assert np.all(layer.params["w"] < 1.0)    # ... now holds the new values


@pytest.mark.parametrize("cls", [SGD, RMSprop, Adam])
def test_float32_parameters_stay_float32(cls):
    model = FakeModel(dtype=np.float32, p=[1.0, -1.0])
    opt = cls(model, lr=0.01, **({"momentum": 0.9} if cls is SGD else {}))
    for _ in range(3):
        model.grads["p"][...] = [0.5, -2.0]
        opt.step()
    assert model.params["p"].dtype == np.float32
    assert all(s.dtype == np.float32 for s in opt.state["p"].values())


# --------------------------------------------------------------- state dicts
def test_state_dict_round_trip_through_npz(tmp_path):
    model = FakeModel(p=[1.0, 2.0], q=[[0.5]])
    opt = Adam(model, lr=0.1)
    for g in (0.3, -0.7):
        model.grads["p"][...] = g
        model.grads["q"][...] = 2 * g
        opt.step()
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    copy_model = FakeModel(p=model.params["p"], q=model.params["q"])
    restored = Adam(copy_model, lr=0.1)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as saved:
        restored.load_state_dict(saved)
    assert restored.t == 2
    for m, o in ((model, opt), (copy_model, restored)):
        m.grads["p"][...] = 1.1
        m.grads["q"][...] = -0.4
        o.step()
    np.testing.assert_array_equal(copy_model.params["p"], model.params["p"])
    np.testing.assert_array_equal(copy_model.params["q"], model.params["q"])


def test_load_state_dict_rejects_unknown_or_misshapen_entries():
    opt = Adam(FakeModel(p=[1.0, 2.0]))
    with pytest.raises(ValueError, match="Adam.*'x/m'"):
        opt.load_state_dict({"t": 1, "x/m": np.zeros(2)})
    with pytest.raises(ValueError, match=r"Adam.*\(3,\).*\(2,\)"):
        opt.load_state_dict({"t": 1, "p/m": np.zeros(3), "p/v": np.zeros(3)})
    with pytest.raises(ValueError, match="Adam.*slots"):
        opt.load_state_dict({"t": 1, "p/m": np.zeros(2)})


# --------------------------------------------------------------------- errors
def test_mismatched_gradient_shape_raises_and_changes_nothing():
    model = FakeModel(a=[1.0, 2.0], b=[3.0, 4.0])
    model.grads["b"] = np.ones(3)
    opt = Adam(model)
    with pytest.raises(ValueError, match=r"Adam.*'b'.*\(3,\).*\(2,\)"):
        opt.step()
    np.testing.assert_array_equal(model.params["a"], [1.0, 2.0])  # no half-applied step
    assert opt.t == 0


def test_other_bad_inputs_raise_clear_errors():
    model = FakeModel(dtype=np.float32, p=[1.0])
    model.grads["p"] = np.ones(1)  # float64 gradient for a float32 parameter
    with pytest.raises(ValueError, match="SGD.*float64.*float32"):
        SGD(model).step()
    model.grads["p"] = np.array([np.nan], dtype=np.float32)
    with pytest.raises(ValueError, match="RMSprop.*NaN"):
        RMSprop(model).step()
    model.grads = {}
    with pytest.raises(ValueError, match="Adam.*keys"):
        Adam(model).step()
    with pytest.raises(TypeError, match="Adam.*params"):
        Adam(object())
    with pytest.raises(ValueError, match="Adam.*lr"):
        Adam(FakeModel(p=[1.0]), lr=0)
    with pytest.raises(ValueError, match="Adam.*beta1"):
        Adam(FakeModel(p=[1.0]), beta1=1.0)
    with pytest.raises(ValueError, match="SGD.*momentum"):
        SGD(FakeModel(p=[1.0]), momentum=-0.1)
    with pytest.raises(ValueError, match="RMSprop.*rho"):
        RMSprop(FakeModel(p=[1.0]), rho=1.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_check_tells_overflow_from_nan_and_inf(dtype):
    """The fast check sums g^2, which overflows for huge finite gradients: those
    must still be accepted, and a single NaN or inf anywhere must be refused."""
    huge = np.finfo(dtype).max / 4
    model = FakeModel(dtype=dtype, p=np.zeros(5))
    model.grads["p"] = np.array([huge, -huge, 1.0, 0.0, huge], dtype=dtype)
    SGD(model, lr=1e-30).step()                         # g . g is inf, g is finite
    assert np.isfinite(model.params["p"]).all()
    for bad in (np.nan, np.inf, -np.inf):
        model.grads["p"] = np.array([1.0, 2.0, bad, 4.0, 5.0], dtype=dtype)
        before = model.params["p"].copy()
        with pytest.raises(ValueError, match="SGD.*'p'.*NaN or infinity"):
            SGD(model).step()
        np.testing.assert_array_equal(model.params["p"], before)


def test_base_optimizer_is_abstract():
    model = FakeModel(p=[1.0])
    with pytest.raises(NotImplementedError):
        Optimizer(model, lr=0.1).step()
