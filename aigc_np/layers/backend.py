"""Reference or fast: one switch for the code that exists twice.

Where speed matters, the maths is written twice:

* the **reference** sits in the layer's or optimizer's own module and reads
  like the textbook: Conv2D through the NCHW ``im2col``/``col2im``
  (layers/conv.py), Adam as Algorithm 1 of Kingma & Ba (optimizers/__init__.py),
  the backward of BatchNormalization, GroupNormalization and attention
  (layers/batchnorm.py, groupnorm.py, attention.py). The exercises are these
  functions.
* the **fast path** does the same maths arranged for the machine, in a module
  of its own: the blocked (C, H, W, N) convolution with its reused workspace
  (layers/fast_conv.py), batch, group and layer normalization in fewer passes
  (layers/fast_norm.py), attention with its mask, softmax and head layouts
  done in place (layers/fast_attention.py), the U-Net's Conv2D(Upsample2x(x)) as four 2x2
  convolutions of x (layers/fast_upconv.py), the fused Adam over cache-sized blocks
  (optimizers/fast.py), and ``fast_input_gradient`` on Dense and the conv
  layers (dL/dx without the weight-gradient products, for a network a step
  backpropagates *through* without updating it, such as D in a GAN's
  generator step). tests/test_fast_paths.py holds every fast path equal to its
  reference on drawn shapes (float64, relative error <= 1e-12).

Training runs the fast paths (the default). Inside ``with reference():`` the
reference code runs instead: for tests, for a student checking their own
exercise end to end, and for ``make bench``'s A/B. A layer records which path
its ``forward`` took, so its ``backward`` uses the same one even if the switch
moved in between.

Why a switch rather than fast subclasses or a registry: the models, lessons
and checkpoints name one class per concept (``Conv2D``, ``Adam``), so a switch
keeps one class, and any model or test runs both ways unchanged; each place
that has a fast path reads the switch once, with an ``if``, beside the
reference call it replaces.
"""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["fast", "reference", "use_fast"]

_fast = True


def fast() -> bool:
    """True if the fast paths run (the default), False inside ``reference()``."""
    return _fast


def use_fast(on: bool) -> None:
    """Turn the fast paths on (True) or off (False: the reference code) from here on."""
    global _fast
    if not isinstance(on, bool):
        raise TypeError(f"backend.use_fast: expected True or False, got {on!r}")
    _fast = on


@contextmanager
def reference():
    """Run the reference code inside the block; the switch is restored on leaving it."""
    saved = _fast
    use_fast(False)
    try:
        yield
    finally:
        use_fast(saved)
