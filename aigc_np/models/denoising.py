"""What a DDPM (models/diffusion.py) and a flow-matching model (models/flow.py) share.

Both train one network, ``self.net``, with ``self.optimizer``, and may sample with an
exponential moving average of its weights, ``self.net_ema`` (None when ``ema`` is 0).
Both may be conditioned on a class label for classifier-free guidance
(``n_classes`` > 0). A subclass sets ``net``, ``net_ema``, ``ema_decay``,
``optimizer`` and ``n_classes``, and ``what`` for its error messages.
"""
from __future__ import annotations

from .base import Model
from .conditional import check_labels


class DenoisingModel(Model):
    what = "denoising"

    def _check_settings(self, p_uncond: float, ema: float, min_snr: float) -> None:
        """The settings both models take: a ValueError naming the class and the setting if one is out of range."""
        who = type(self).__name__
        if not 0.0 <= p_uncond < 1.0:
            raise ValueError(f"{who}: p_uncond must be in [0, 1), got {p_uncond}")
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"{who}: ema must be in [0, 1), got {ema}")
        if not min_snr >= 0.0:
            raise ValueError(f"{who}: min_snr must be >= 0 (0: off), got {min_snr}")

    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    @property
    def sampler(self):
        """The network that makes the samples: the weight average if enabled."""
        return self.net if self.net_ema is None else self.net_ema

    def _labels(self, labels, n: int, who: str):
        if not self.conditional:
            if labels is not None:
                raise ValueError(f"{who}: this {self.what} model is unconditional; it takes no labels")
            return None
        if labels is None:
            raise ValueError(f"{who}: this {self.what} model is conditional; pass labels (N,) in "
                             f"0..{self.n_classes - 1}")
        return check_labels(labels, n, self.n_classes, who)

    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * w for every weight, with a warm-up:
        the decay is min(decay, (1 + k) / (10 + k)) at step k, so that the
        average forgets the random initial weights within the first few hundred steps."""
        if self.net_ema is None:
            return
        k = self.optimizer.t
        rate = 1.0 - min(self.ema_decay, (1.0 + k) / (10.0 + k))
        averages = self.net_ema.params   # a dict built from the network's layers: build it once, not per weight
        for name, w in self.net.params.items():
            ema = averages[name]
            ema += rate * (w - ema)
