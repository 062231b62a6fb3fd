"""aigc_np: generative AI from scratch in vectorized NumPy, for teaching."""
__version__ = "0.2.0"
