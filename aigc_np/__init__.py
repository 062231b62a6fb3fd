"""aigc_np: generative AI from scratch in vectorized NumPy, for teaching.

The core (``layers``, ``losses``, ``optimizers``, ``gradcheck``) is the maths, every backward pass
handwritten; ``models`` and ``text`` build the generative models from it; ``kinds`` is the table of
every kind of model, ``training`` its one loop and ``cli`` its one command line
(``python -m aigc_np train|sample|evaluate``). docs/design.md draws the whole plan.
"""
__version__ = "0.2.0"
