"""Layers with handwritten forward and backward passes (NCHW images; (N, T, C) sequences)."""
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .attention import CausalSelfAttention
from .base import Layer
from .batchnorm import BatchNormalization
from .conditioning import LabelEmbedding, SinusoidalEmbedding
from .conv import Conv2D, Conv2DTranspose, col2im, im2col
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding, PositionalEmbedding
from .groupnorm import GroupNormalization
from .layernorm import LayerNormalization
from .recurrent import LSTM
from .reshape import Flatten, Reshape
from .sequential import Sequential
from .silu import SiLU
from .transformer import GELU, Block
from .upsample import Upsample2x

__all__ = ["Layer", "Sequential", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "sigmoid",
           "Flatten", "Reshape", "Dropout", "BatchNormalization", "LayerNormalization",
           "Conv2D", "Conv2DTranspose", "im2col", "col2im",
           # language models (lessons 12-14)
           "Embedding", "PositionalEmbedding", "LSTM", "CausalSelfAttention", "GELU", "Block",
           # diffusion (lessons 15-16)
           "GroupNormalization", "SiLU", "Upsample2x", "SinusoidalEmbedding", "LabelEmbedding"]
