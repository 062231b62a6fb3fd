"""Flow matching, "rectified flow" (Lipman et al. 2023; Liu et al. 2023; Esser et al. 2024).

Draw a data point x_0 and a noise eps ~ N(0, I), and join them by a straight line:

    x_t = (1 - t) x_0 + t eps,            t in [0, 1]   (t = 0: data, t = 1: noise)

A point moving along that line has the constant velocity v = dx_t/dt = eps - x_0.
A network v_theta(x_t, t) learns it by plain regression,

    L = E_{x_0, eps, t} || v_theta(x_t, t) - (eps - x_0) ||^2,

and the best it can do is the *average* velocity of all lines through x_t,
E[eps - x_0 | x_t]. That average defines an ODE, dx/dt = v_theta(x, t),
whose flow carries N(0, I) at t = 1 to the data at t = 0, so sampling is
solving the ODE backwards from noise: Euler's method

    x_{t - h} = x_t - h v_theta(x_t, t),

or Heun's (Euler, then the average of the slopes at both ends; two calls a step).

Which t the loss sees matters: the middle of the path is where the
average over lines is hardest to learn. Esser et al. (2024) draw t from a
logit-normal, t = sigmoid(m + s n) with n ~ N(0, 1), which puts more
samples there than uniform t does.

Against the v-prediction DDPM (``models.diffusion``). Both paths mix x_0
and eps; both networks predict a velocity, and knowing x_t, an error in
the velocity is an error in x_0 (the lesson derives this):

    rectified flow:  ||dv||^2 = ||dx_0||^2 / t^2     = (1 + sqrt(SNR))^2 ||dx_0||^2
    v-DDPM:          ||dv||^2 = ||dx_0||^2 / (1 - a) = (1 + SNR)         ||dx_0||^2

with SNR = signal-to-noise ratio of x_t ((1 - t)^2 / t^2 here; a / (1 - a)
for alpha_bar = a there). The two weights agree where the noise dominates
(SNR -> 0) and differ by at most a factor 2 (at SNR = 1). The real
differences are the path (straight here; a quarter-circle, variance
preserving, there), which t are trained, and the sampler.

Classifier-free guidance works as for the DDPM: v = (1 + w) v(x, t, y) - w v(x, t, null).

Autoguidance (Karras et al. 2024) guides an unconditional model the same way,
with a weaker version of itself in place of the unconditional prediction:

    v = (1 + w) v_theta(x, t) - w v_guide(x, t),

where v_guide is a copy of the sampling network taken early in training
(``guide_step``). Both models err where the data are hard, but the weak one
errs more, so stepping away from it pulls samples towards the regions the
strong model has learned well, without the loss of variety that lowering
the sampling temperature would cost.
"""
from __future__ import annotations

import copy

import numpy as np

from ..optimizers import Adam
from .denoising import DenoisingModel

__all__ = ["TIME_DISTRIBUTIONS", "FLOW_SAMPLERS", "TIME_SCALE", "draw_times", "flow_path", "flow_times",
           "min_snr_weights", "guided_velocity", "FlowMatching"]

TIME_DISTRIBUTIONS = ("uniform", "logit-normal")
FLOW_SAMPLERS = ("euler", "heun")
TIME_SCALE = 1000.0   # the network hears 1000 t, the range of a DDPM's timesteps, so the same embedding fits


def draw_times(n: int, rng: np.random.Generator, distribution: str = "logit-normal", mean: float = 0.0,
               std: float = 1.0) -> np.ndarray:
    """n times in (0, 1): uniform, or logit-normal t = sigmoid(mean + std n), n ~ N(0, 1) (float64)."""
    if distribution == "uniform":
        return rng.random(n)
    if distribution == "logit-normal":
        return 1.0 / (1.0 + np.exp(-(mean + std * rng.standard_normal(n))))
    raise ValueError(f"draw_times: distribution must be one of {list(TIME_DISTRIBUTIONS)}, got {distribution!r}")


def flow_path(x0: np.ndarray, eps: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x_t, v): x_t = (1 - t) x_0 + t eps and its velocity v = eps - x_0; t (N,), one per example."""
    t = np.asarray(t, dtype=x0.dtype).reshape((len(x0),) + (1,) * (x0.ndim - 1))
    return (1.0 - t) * x0 + t * eps, eps - x0


def flow_times(steps: int) -> np.ndarray:
    """The steps + 1 times an ODE sampler visits: 1 (noise) down to 0 (data), evenly spaced."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"flow_times: steps must be an int >= 1, got {steps!r}")
    return np.linspace(1.0, 0.0, int(steps) + 1)


def min_snr_weights(t: np.ndarray, gamma: float) -> np.ndarray:
    """Min-SNR-gamma weights (Hang et al. 2023) for the velocity loss, one per time t (N,) in (0, 1).

    The velocity error is the x_0 error over t (x_0 = x_t - t v), so ||v_theta - v||^2 weighs the
    x_0 error by 1 / t^2. Min-SNR weighs it by min(SNR, gamma) instead, SNR = (1 - t)^2 / t^2:
    w(t) = min(SNR, gamma) t^2 = min((1 - t)^2, gamma t^2), which caps the easy, nearly clean
    times that would otherwise dominate the gradient.
    """
    t = np.asarray(t, dtype=np.float64)
    return np.minimum((1.0 - t) ** 2, gamma * t * t)


def guided_velocity(v_cond: np.ndarray, v_uncond: np.ndarray, w: float) -> np.ndarray:
    """Classifier-free guidance: (1 + w) v(x, t, y) - w v(x, t, null). w = 0: v_cond exactly."""
    return v_cond if w == 0 else (1.0 + w) * v_cond - w * v_uncond


class FlowMatching(DenoisingModel):
    """A velocity network v_theta, its training step and its ODE samplers.

    Args:
        velocity_net: ``forward(x_t, t, labels) -> v`` shaped like x_t (t (N,) floats, here
            1000 t; labels (N,) ints with n_classes meaning "null", or None) and
            ``backward(dv)``: any denoiser of ``models.unet`` or ``models.latent``.
        data_shape: per-example shape of x_0.
        n_classes: 0 (unconditional) or the number of labels; p_uncond: chance a
            training label becomes the null label (classifier-free guidance).
        lr: Adam's learning rate; ema: decay of the weight average that samples (0: none).
        time_distribution: "uniform" or "logit-normal" (mean 0, std 1).
        min_snr: gamma of the min-SNR loss weights (``min_snr_weights``); 0: the plain velocity MSE.
        guide_step: for autoguidance, the optimizer step after which the sampling network is copied
            as the guide (0: no guide).
        rng: draws t, eps and the label drops in training.

    ``parts``: "velocity" (the network that samples: the EMA copy if ema > 0),
    "velocity_train" (the trained one) and "velocity_guide" (the guide, if guide_step > 0).
    """

    what = "flow"

    def __init__(self, velocity_net, data_shape, n_classes: int = 0, p_uncond: float = 0.1, lr: float = 1e-3,
                 ema: float = 0.999, time_distribution: str = "logit-normal", min_snr: float = 0.0,
                 guide_step: int = 0, rng: np.random.Generator | None = None):
        if time_distribution not in TIME_DISTRIBUTIONS:
            raise ValueError(f"FlowMatching: time_distribution must be one of {list(TIME_DISTRIBUTIONS)}, "
                             f"got {time_distribution!r}")
        self._check_settings(p_uncond, ema, min_snr)
        if isinstance(guide_step, bool) or not isinstance(guide_step, (int, np.integer)) or guide_step < 0:
            raise ValueError(f"FlowMatching: guide_step must be an int >= 0 (0: no guide), got {guide_step!r}")
        if guide_step and n_classes:
            raise ValueError("FlowMatching: a conditional model is guided by its null label; guide_step must be 0")
        self.min_snr, self.guide_step = float(min_snr), int(guide_step)
        self.net, self.data_shape, self.n_classes = velocity_net, tuple(data_shape), int(n_classes)
        self.p_uncond, self.ema_decay, self.time_distribution = float(p_uncond), float(ema), time_distribution
        self.rng = np.random.default_rng(0) if rng is None else rng
        self.optimizer = Adam(velocity_net, lr=lr)
        self.net_ema = copy.deepcopy(velocity_net) if ema else None
        self.net_guide = copy.deepcopy(velocity_net) if guide_step else None
        parts = {"velocity": self.net_ema, "velocity_train": velocity_net} if ema else {"velocity": velocity_net}
        super().__init__(**parts, **({"velocity_guide": self.net_guide} if guide_step else {}))

    # ------------------------------------------------------------ training
    def loss(self, x0, labels=None, t=None, eps=None, drop=None) -> float:
        """mean ||v_theta(x_t, t, y) - (eps - x_0)||^2, each example weighted by ``min_snr_weights`` if
        min_snr > 0; forward and backward (fills the trained net's grads).

        x0 (N, *data_shape); labels (N,) if conditional; t (N,) in [0, 1], eps like
        x0, drop (N,) bools: drawn from the model's rng when None.
        """
        n = len(x0)
        labels = self._labels(labels, n, "FlowMatching.loss")
        t = draw_times(n, self.rng, self.time_distribution) if t is None else np.asarray(t, dtype=np.float64)
        if eps is None:
            eps = self.rng.standard_normal(x0.shape).astype(x0.dtype)
        if labels is not None:
            drop = self.rng.random(n) < self.p_uncond if drop is None else np.asarray(drop, dtype=bool)
            labels = np.where(drop, self.n_classes, labels)
        x_t, v = flow_path(x0, eps, t)
        diff = self.net.forward(x_t, (TIME_SCALE * t).astype(x0.dtype), labels) - v
        weighted = diff
        if self.min_snr:
            weighted = diff * min_snr_weights(t, self.min_snr).astype(x0.dtype).reshape((n,) + (1,) * (x0.ndim - 1))
        self.net.backward((2.0 / diff.size) * weighted)
        return float(np.mean(diff * weighted))

    def train_step(self, x0, labels=None) -> dict:
        """One Adam step on a batch x_0 (N, *data_shape) (or flat), with labels (N,) if conditional."""
        if self.conditional and labels is None:
            raise ValueError("FlowMatching.train_step: a conditional model trains on (x, labels); got no labels")
        x0 = x0.reshape((len(x0),) + self.data_shape)
        loss = self.loss(x0, labels)
        self.optimizer.step()
        self.update_ema()
        if self.optimizer.t == self.guide_step:   # the guide: the sampling network as it is now
            guide = self.net_guide.params
            for name, w in self.sampler.params.items():
                guide[name][...] = w
        return {"loss": loss}

    @property
    def has_guide(self) -> bool:
        """True once the guide has been taken (autoguidance can sample)."""
        return bool(self.guide_step) and self.optimizer.t >= self.guide_step

    # ------------------------------------------------------------ sampling
    def velocity(self, x, t: float, labels=None, guidance: float = 0.0, net=None) -> np.ndarray:
        """The (guided) velocity at one time t for a batch x; classifier-free guidance runs y and null
        as one batch of 2N, autoguidance (no labels) runs the guide on the same batch."""
        net = self.sampler if net is None else net
        n = len(x)
        times = np.full(n, TIME_SCALE * t, dtype=x.dtype)
        if guidance == 0:
            return net.forward(x, times, labels)
        if labels is None:
            return guided_velocity(net.forward(x, times), self.net_guide.forward(x, times), guidance)
        both = net.forward(np.concatenate([x, x]), np.concatenate([times, times]),
                           np.concatenate([labels, np.full(n, self.n_classes)]))
        return guided_velocity(both[:n], both[n:], guidance)

    def sample(self, n: int, rng: np.random.Generator, sampler: str = "euler", steps: int = 50, labels=None,
               guidance: float = 0.0, batch_size: int = 500, x1=None) -> np.ndarray:
        """n samples (n, *data_shape): solve dx/dt = v_theta from x_1 ~ N(0, I) at t = 1 to t = 0.

        sampler: "euler" (``steps`` network calls) or "heun" (2 per step but the last: 2 steps - 1).
        x1: the starting noise (n, *data_shape) instead of drawing it from ``rng``.
        """
        if sampler not in FLOW_SAMPLERS:
            raise ValueError(f"FlowMatching.sample: sampler must be one of {list(FLOW_SAMPLERS)}, got {sampler!r}")
        times = flow_times(steps)
        labels = self._labels(labels, n, "FlowMatching.sample")
        if guidance and not self.conditional and not self.has_guide:
            raise ValueError("FlowMatching.sample: guidance needs a conditional model or a guide (autoguidance), "
                             + (f"taken at step {self.guide_step}, but the model has trained {self.optimizer.t} "
                                "steps" if self.guide_step else "and this model has none (guide_step 0)"))
        net = self.sampler
        was_training = net.training
        net.eval()
        if self.net_guide is not None:
            self.net_guide.eval()
        if x1 is None:
            x1 = rng.standard_normal((n,) + self.data_shape).astype(net.dtype)
        elif np.shape(x1) != (n,) + self.data_shape:
            raise ValueError(f"FlowMatching.sample: expected x1 of shape {(n,) + self.data_shape}, got {np.shape(x1)}")
        out = []
        for start in range(0, n, batch_size):
            x = x1[start:start + batch_size]
            yb = None if labels is None else labels[start:start + batch_size]
            for t, s in zip(times[:-1].tolist(), times[1:].tolist()):   # Python floats keep x's dtype
                v = self.velocity(x, t, yb, guidance, net)
                if sampler == "heun" and s > 0:   # at s = 0 the network never saw t = 0: Euler's last step
                    v = 0.5 * (v + self.velocity(x + (s - t) * v, s, yb, guidance, net))
                x = x + (s - t) * v
            out.append(x)
        if was_training:
            net.train()
        return np.concatenate(out)
