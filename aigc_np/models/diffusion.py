"""Denoising diffusion (Ho et al. 2020, "DDPM"; Song et al. 2021, "DDIM"; Ho & Salimans 2022, guidance).

A GAN learns a map from noise to data in one jump. A diffusion model learns
the opposite of a process we know exactly: *adding* noise. With a schedule
of small variances beta_0 .. beta_{T-1} (t = 0 .. T-1 here, t = 1 .. T in the
papers), the forward process q makes x_0 (data) noisier one step at a time,

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),

and because a Gaussian of a Gaussian is Gaussian, any step has a closed form:
with alpha_t = 1 - beta_t and alpha_bar_t = alpha_0 alpha_1 ... alpha_t,

    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),
    i.e. x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,  eps ~ N(0, I).

alpha_bar falls from ~1 to ~0, so x_{T-1} is (almost) pure noise. A network
eps_theta(x_t, t) learns to say which noise was added -- a plain regression,

    L = E_{x_0, t ~ U{0..T-1}, eps} || eps_theta(x_t, t) - eps ||^2     (the "simple" loss),

and sampling runs the process backwards from x_{T-1} ~ N(0, I): DDPM one
step at a time with fresh noise (T network calls), DDIM along a short
subsequence of S << T steps, deterministically (eta = 0) or not.

What the network predicts. eps is the classic target, but turning it into
an image divides by sqrt(alpha_bar_t): at the noisiest steps (alpha_bar
near 0) a small error in eps becomes a huge error in the predicted x_0, and
a DDIM sampler that jumps from there in a few steps cannot recover. The
"velocity" v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans &
Ho 2022) is the same information in a better-conditioned form:

    eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v,
    x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v,

so an error in v reaches x_0 scaled by sqrt(1 - alpha_bar_t) <= 1, never
amplified. Near t = 0, v is about eps; near t = T, it is about -x_0.

Classifier-free guidance: one network learns both eps(x, t, y) (draw digit
y) and eps(x, t, null) (draw any digit), by replacing the label by a "null"
class with probability p_uncond in training. At sampling time

    eps = (1 + w) eps(x, t, y) - w eps(x, t, null),

which moves each step further in the direction that makes y likely: w = 0 is
the plain conditional model, larger w gives more typical, less varied digits.
"""
from __future__ import annotations

import copy

import numpy as np

from ..optimizers import Adam
from .conditional import check_labels
from .denoising import DenoisingModel

__all__ = ["SCHEDULES", "PREDICTIONS", "NoiseSchedule", "linear_betas", "cosine_betas", "guided_eps", "ddim_timesteps",
           "Diffusion"]

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddim", "ddpm")
PREDICTIONS = ("eps", "v")


# ------------------------------------------------------------------ schedules
def linear_betas(T: int) -> np.ndarray:
    """Ho et al.'s schedule: beta rises linearly from 1e-4 to 0.02 over T = 1000 steps.

    For another T both ends are scaled by 1000 / T, so that the total amount
    of noise, and alpha_bar at the last step (~4e-5), stay about the same.
    """
    scale = 1000.0 / T
    return np.linspace(scale * 1e-4, min(scale * 0.02, 0.999), T)


def cosine_betas(T: int, s: float = 0.008) -> np.ndarray:
    """Nichol & Dhariwal's schedule: alpha_bar_t = f(t) / f(0), f(t) = cos((t/T + s)/(1 + s) * pi/2)^2.

    alpha_bar falls slowly at both ends and linearly in the middle, so fewer
    of the steps are spent on images already destroyed by noise. beta_t =
    1 - alpha_bar_t / alpha_bar_{t-1}, capped at 0.999 (the last steps).
    """
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    alpha_bar = f / f[0]
    return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], 0.999)


class NoiseSchedule:
    """The forward process's constants for t = 0 .. T-1 (float64 arrays of length T).

    betas, alphas = 1 - betas, alpha_bar (cumulative product), alpha_bar_prev
    (alpha_bar_{t-1}, with alpha_bar_{-1} = 1: x_{-1} is the data itself).
    """

    def __init__(self, kind: str = "linear", T: int = 1000):
        if kind not in SCHEDULES:
            raise ValueError(f"NoiseSchedule: kind must be one of {list(SCHEDULES)}, got {kind!r}")
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 2:
            raise ValueError(f"NoiseSchedule: T must be an int >= 2, got {T!r}")
        self.kind, self.T = kind, int(T)
        self.betas = linear_betas(self.T) if kind == "linear" else cosine_betas(self.T)
        self.alphas = 1.0 - self.betas
        self.alpha_bar = np.cumprod(self.alphas)
        self.alpha_bar_prev = np.concatenate([[1.0], self.alpha_bar[:-1]])
        # Variance of the true reverse step q(x_{t-1} | x_t, x_0): "beta tilde".
        self.posterior_variance = self.betas * (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar)

    def _timesteps(self, t, n: int) -> np.ndarray:
        t = np.asarray(t)
        if t.dtype.kind not in "iu" or t.shape not in ((), (n,)):
            raise ValueError(f"NoiseSchedule: expected integer timesteps, one or one per example ({n},), "
                             f"got {t.dtype} {t.shape}")
        if t.size and (t.min() < 0 or t.max() >= self.T):
            raise ValueError(f"NoiseSchedule: timesteps must be in 0..{self.T - 1}, got {t.min()}..{t.max()}")
        return np.broadcast_to(t, (n,))

    def _per_example(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """(N,) -> (N, 1, ..., 1) in x's dtype, to scale each example of x."""
        return values.astype(x.dtype).reshape((len(x),) + (1,) * (x.ndim - 1))

    def q_sample(self, x0: np.ndarray, t, rng: np.random.Generator | None = None, eps: np.ndarray | None = None):
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, in closed form.

        x0 (N, ...); t an int or (N,) ints; eps drawn from ``rng`` if None.
        Returns (x_t, eps), both like x0.
        """
        t = self._timesteps(t, len(x0))
        if eps is None:
            if not isinstance(rng, np.random.Generator):
                raise TypeError("NoiseSchedule.q_sample: pass eps or rng=np.random.Generator")
            eps = rng.standard_normal(x0.shape).astype(x0.dtype)
        ab = self.alpha_bar[t]
        return self._per_example(np.sqrt(ab), x0) * x0 + self._per_example(np.sqrt(1.0 - ab), x0) * eps, eps

    def v_target(self, x0, eps, t):
        """v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0, per example; t (N,) ints."""
        t = self._timesteps(t, len(x0))
        ab = self.alpha_bar[t]
        return self._per_example(np.sqrt(ab), x0) * eps - self._per_example(np.sqrt(1.0 - ab), x0) * x0

    def eps_from_v(self, x_t, t: int, v):
        """The noise a v-prediction implies at one timestep t: eps = sqrt(1 - ab_t) x_t + sqrt(ab_t) v."""
        ab = float(self.alpha_bar[t])
        return (np.sqrt(1.0 - ab) * x_t + np.sqrt(ab) * v).astype(x_t.dtype)

    def predict_x0(self, x_t, t: int, eps, clip: bool = False):
        """x_0 as the network sees it: x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t).

        ``clip``: clamp to [-1, 1], the range of the images (not for data without a range).
        """
        ab = float(self.alpha_bar[t])
        x0 = (x_t - np.sqrt(1.0 - ab) * eps) / np.sqrt(ab)
        return np.clip(x0, -1.0, 1.0) if clip else x0

    def ddpm_step(self, x_t, t: int, eps, z, clip: bool = False):
        """One ancestral step x_t -> x_{t-1}: a draw from the true reverse step given x_0 = predict_x0.

            mean = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x_0 + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t
            x_{t-1} = mean + sqrt(beta_tilde_t) z          (no noise at t = 0: beta_tilde_0 = 0)

        Without clipping, mean = (x_t - beta_t / sqrt(1 - ab_t) eps) / sqrt(alpha_t), Ho et al.'s form.
        """
        x0_hat = self.predict_x0(x_t, t, eps, clip)
        ab, ab_prev, beta = float(self.alpha_bar[t]), float(self.alpha_bar_prev[t]), float(self.betas[t])
        mean = (np.sqrt(ab_prev) * beta / (1 - ab)) * x0_hat + (np.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)) * x_t
        if t == 0:
            return mean.astype(x_t.dtype)
        return (mean + np.sqrt(float(self.posterior_variance[t])) * z).astype(x_t.dtype)

    def ddim_step(self, x_t, t: int, s: int, eps, eta: float, z, clip: bool = False):
        """One DDIM step x_t -> x_s (s < t; s = -1 means the data, alpha_bar = 1).

            x_0 = predict_x0(x_t, t, eps);  sigma = eta sqrt((1 - ab_s)/(1 - ab_t)) sqrt(1 - ab_t/ab_s)
            x_s = sqrt(ab_s) x_0 + sqrt(1 - ab_s - sigma^2) eps + sigma z

        x_s keeps x_0 and re-adds noise of the right size, partly the predicted
        eps (deterministic) and partly fresh z. eta = 0: no fresh noise, the
        same x_T always gives the same image. eta = 1 with s = t - 1: sigma^2
        is beta_tilde_t, and the step is exactly ``ddpm_step``.
        """
        ab_t = float(self.alpha_bar[t])
        ab_s = float(self.alpha_bar[s]) if s >= 0 else 1.0
        # BEGIN EXERCISE 14: the DDIM update
        # Hint: x_0 = predict_x0(...); with clipping, recompute eps from x_t and that x_0; sigma = eta sqrt((1 - ab_s)/(1 - ab_t)) sqrt(1 - ab_t/ab_s); x_s = sqrt(ab_s) x_0 + sqrt(1 - ab_s - sigma^2) eps + sigma z.
        x0 = self.predict_x0(x_t, t, eps, clip)
        if clip:  # the noise direction that goes with the clamped x_0
            eps = (x_t - np.sqrt(ab_t) * x0) / np.sqrt(1.0 - ab_t)
        sigma = eta * np.sqrt((1.0 - ab_s) / (1.0 - ab_t)) * np.sqrt(1.0 - ab_t / ab_s)
        x_s = np.sqrt(ab_s) * x0 + np.sqrt(max(1.0 - ab_s - sigma ** 2, 0.0)) * eps
        if sigma > 0:
            x_s = x_s + sigma * z
        return x_s.astype(x_t.dtype)
        # END EXERCISE 14


def ddim_timesteps(T: int, steps: int) -> np.ndarray:
    """The S = ``steps`` timesteps DDIM visits, from T-1 down to 0, evenly spaced (S = T: every step)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= T:
        raise ValueError(f"ddim_timesteps: steps must be an int in 1..T={T}, got {steps!r}")
    if steps == 1:
        return np.array([T - 1])
    return np.round(np.linspace(T - 1, 0, steps)).astype(np.int64)


def guided_eps(eps_cond: np.ndarray, eps_uncond: np.ndarray, w: float) -> np.ndarray:
    """Classifier-free guidance: (1 + w) eps(x, t, y) - w eps(x, t, null). w = 0: eps_cond exactly."""
    if w == 0:
        return eps_cond
    return (1.0 + w) * eps_cond - w * eps_uncond


# ------------------------------------------------------------------- the model
class Diffusion(DenoisingModel):
    """A denoiser eps_theta, its noise schedule, its training step and its samplers.

    Args:
        denoiser: a network with ``forward(x_t, t, labels) -> eps`` (shaped like
            x_t; t (N,) float timesteps; labels (N,) ints, n_classes meaning
            "null", or None) and ``backward(d_eps)`` filling its grads -- an
            :class:`~aigc_np.models.unet.UNet` or a
            :class:`~aigc_np.models.unet.MLPDenoiser`.
        schedule: a :class:`NoiseSchedule`.
        data_shape: per-example shape of x_0, e.g. (2,) or (1, 28, 28).
        n_classes: 0 for an unconditional model; else the labels are 0..n_classes-1.
        p_uncond: probability that a training label is replaced by the null class.
        lr: Adam's learning rate; ema: decay of the weight average that samples
            (0: sample with the trained weights).
        clip: clamp predicted x_0 to [-1, 1] while sampling (images).
        prediction: what the network is trained to output, "eps" (the noise;
            the simple loss) or "v" (see the module docstring).
        min_snr: gamma of the min-SNR loss weights (``loss_weights``); 0: the plain MSE.
        rng: draws t, eps and the label drops in training.

    ``parts`` are "denoiser" (the network that samples: the EMA copy if ema > 0)
    and "denoiser_train" (the trained one), as in the GAN's EMA.
    """

    what = "diffusion"

    def __init__(self, denoiser, schedule: NoiseSchedule, data_shape, n_classes: int = 0, p_uncond: float = 0.1,
                 lr: float = 2e-4, ema: float = 0.999, clip: bool = True, prediction: str = "eps",
                 min_snr: float = 0.0, rng: np.random.Generator | None = None):
        if prediction not in PREDICTIONS:
            raise ValueError(f"Diffusion: prediction must be one of {list(PREDICTIONS)}, got {prediction!r}")
        self._check_settings(p_uncond, ema, min_snr)
        self.min_snr = float(min_snr)
        self.net, self.schedule = denoiser, schedule
        self.data_shape, self.n_classes = tuple(data_shape), int(n_classes)
        self.p_uncond, self.clip, self.ema_decay = float(p_uncond), bool(clip), float(ema)
        self.prediction = prediction
        self.rng = np.random.default_rng(0) if rng is None else rng
        self.optimizer = Adam(denoiser, lr=lr)
        self.net_ema = None
        parts = {"denoiser": denoiser}
        if ema:
            self.net_ema = copy.deepcopy(denoiser)
            parts = {"denoiser": self.net_ema, "denoiser_train": denoiser}
        super().__init__(**parts)

    # ------------------------------------------------------------ training
    def loss(self, x0, labels=None, t=None, eps=None, drop=None) -> float:
        """The simple loss mean ||eps_theta(x_t, t, y) - eps||^2 (or with v and v_theta); forward and backward.

        x0 (N, *data_shape); labels (N,) for a conditional model. t (N,)
        ints, eps like x0 and drop (N,) bools (labels replaced by null) are
        drawn from the model's rng when None. Fills the trained network's grads.
        """
        n = len(x0)
        labels = self._labels(labels, n, "Diffusion.loss")
        t = self.rng.integers(0, self.schedule.T, n) if t is None else np.asarray(t)
        x_t, eps = self.schedule.q_sample(x0, t, self.rng, eps)
        if labels is not None:
            drop = self.rng.random(n) < self.p_uncond if drop is None else np.asarray(drop, dtype=bool)
            labels = np.where(drop, self.n_classes, labels)
        target = eps if self.prediction == "eps" else self.schedule.v_target(x0, eps, t)
        pred = self.net.forward(x_t, t.astype(x0.dtype), labels)
        diff = pred - target
        weighted = diff if not self.min_snr else diff * self.schedule._per_example(self.loss_weights(t), diff)
        self.net.backward((2.0 / diff.size) * weighted)
        return float(np.mean(diff * weighted))

    def loss_weights(self, t) -> np.ndarray:
        """Min-SNR-gamma weights (Hang et al. 2023), one per timestep t (N,): the loss's weight on the
        x_0 error, SNR_t for eps and SNR_t + 1 for v (SNR_t = alpha_bar_t / (1 - alpha_bar_t)), is
        capped at gamma: w = min(SNR_t, gamma) / SNR_t (eps) or / (SNR_t + 1) (v)."""
        ab = self.schedule.alpha_bar[np.asarray(t)]
        snr = ab / (1.0 - ab)
        return np.minimum(snr, self.min_snr) / (snr + (1.0 if self.prediction == "v" else 0.0))

    def train_step(self, x0, labels=None) -> dict:
        """One Adam step on a batch x_0 (N, *data_shape) or flat (N, pixels); a conditional model
        also takes its labels (N,) ints."""
        if self.conditional:
            if labels is None:
                raise ValueError("Diffusion.train_step: a conditional model trains on (images, labels); got no labels")
            labels = check_labels(labels, len(x0), self.n_classes, "Diffusion.train_step")
        elif labels is not None:
            raise ValueError("Diffusion.train_step: an unconditional model takes no labels")
        x0 = x0.reshape((len(x0),) + self.data_shape)
        loss = self.loss(x0, labels)
        self.optimizer.step()
        self.update_ema()
        return {"loss": loss}

    # ------------------------------------------------------------ sampling
    def predict_eps(self, x_t, t: int, labels=None, guidance: float = 0.0, net=None) -> np.ndarray:
        """The (guided) noise prediction at one timestep t for a batch x_t.

        Unconditional: eps(x_t, t). Conditional: guided_eps(eps(x, t, y), eps(x, t, null), w);
        both halves go through the network as one batch of 2N.
        """
        net = self.sampler if net is None else net
        n = len(x_t)
        times = np.full(n, t, dtype=x_t.dtype)
        if labels is None or guidance == 0:
            out = net.forward(x_t, times, labels)
        else:
            both = net.forward(np.concatenate([x_t, x_t]), np.concatenate([times, times]),
                               np.concatenate([labels, np.full(n, self.n_classes)]))
            # eps is affine in v with the same x_t, so guiding v is guiding eps.
            out = guided_eps(both[:n], both[n:], guidance)
        return out if self.prediction == "eps" else self.schedule.eps_from_v(x_t, t, out)

    def sample(self, n: int, rng: np.random.Generator, sampler: str = "ddim", steps: int | None = None,
               eta: float = 0.0, labels=None, guidance: float = 0.0, batch_size: int = 250,
               keep: tuple = ()) -> np.ndarray | tuple:
        """n samples (n, *data_shape), drawn from x_{T-1} ~ N(0, I) by running the process backwards.

        Args:
            rng: all randomness (x_{T-1} and every step's noise): same seed, same samples.
            sampler: "ddpm" (all T steps, fresh noise each) or "ddim" (``steps`` of them, default 50).
            eta: DDIM's noise (0: deterministic; 1 with steps = T: DDPM).
            labels: (n,) digits for a conditional model; guidance: its w.
            batch_size: samples denoised at a time (memory).
            keep: timesteps whose x_t to return as well (a trajectory); then the
                result is (samples, {t: x_t}), and the key -1 holds the samples.
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"Diffusion.sample: sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
        T = self.schedule.T
        if sampler == "ddpm":
            if steps not in (None, T):
                raise ValueError(f"Diffusion.sample: the ddpm sampler takes all T={T} steps, got steps={steps}")
            times = np.arange(T - 1, -1, -1)
        else:
            times = ddim_timesteps(T, min(50, T) if steps is None else steps)
        if not float(eta) >= 0.0:
            raise ValueError(f"Diffusion.sample: eta must be >= 0, got {eta}")
        labels = self._labels(labels, n, "Diffusion.sample")
        if guidance and not self.conditional:
            raise ValueError("Diffusion.sample: guidance needs a conditional model")
        net = self.sampler
        was_training = net.training
        net.eval()
        dtype = net.dtype
        out, kept = [], {int(k): [] for k in keep}
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            x = rng.standard_normal((stop - start,) + self.data_shape).astype(dtype)
            yb = None if labels is None else labels[start:stop]
            for i, t in enumerate(times):
                t = int(t)
                if t in kept:
                    kept[t].append(x)
                eps = self.predict_eps(x, t, yb, guidance, net)
                if sampler == "ddpm":
                    z = rng.standard_normal(x.shape).astype(dtype) if t > 0 else None
                    x = self.schedule.ddpm_step(x, t, eps, z, self.clip)
                else:
                    s = int(times[i + 1]) if i + 1 < len(times) else -1
                    z = rng.standard_normal(x.shape).astype(dtype) if eta > 0 and s >= 0 else None
                    x = self.schedule.ddim_step(x, t, s, eps, eta if s >= 0 else 0.0, z, self.clip)
            out.append(x)
        if was_training:
            net.train()
        samples = np.concatenate(out)
        if keep:
            trajectory = {t: np.concatenate(v) for t, v in kept.items() if v}
            trajectory[-1] = samples
            return samples, trajectory
        return samples
