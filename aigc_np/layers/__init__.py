"""Layers with handwritten forward and backward passes (NCHW images)."""
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer
from .conv import Conv2D, Conv2DTranspose, col2im, im2col
from .batchnorm import BatchNormalization
from .dense import Dense
from .dropout import Dropout
from .layernorm import LayerNormalization
from .reshape import Flatten, Reshape
from .sequential import Sequential

__all__ = ["Layer", "Sequential", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "sigmoid",
           "Flatten", "Reshape", "Dropout", "BatchNormalization", "LayerNormalization",
           "Conv2D", "Conv2DTranspose", "im2col", "col2im"]
