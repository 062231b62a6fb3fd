"""Layers with handwritten forward and backward passes (NCHW images)."""
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer
from .conv import Conv2D, Conv2DTranspose, col2im, im2col
from .batchnorm import BatchNormalization
from .dense import Dense
from .dropout import Dropout
from .embedding import LabelEmbedding, SinusoidalEmbedding
from .groupnorm import GroupNormalization
from .layernorm import LayerNormalization
from .reshape import Flatten, Reshape
from .sequential import Sequential
from .silu import SiLU
from .upsample import Upsample2x

__all__ = ["Layer", "Sequential", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "sigmoid",
           "Flatten", "Reshape", "Dropout", "BatchNormalization", "LayerNormalization",
           "Conv2D", "Conv2DTranspose", "im2col", "col2im"]
# Diffusion (lessons 15-16)
__all__ += ["GroupNormalization", "SiLU", "Upsample2x", "SinusoidalEmbedding", "LabelEmbedding"]
