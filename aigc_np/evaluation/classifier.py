"""Digit classifiers: the training loop of lessons 02-03 and the CNN judge.

The lesson-03 CNN is reused later as the "judge" that scores generated
digits, so its architecture lives here, where evaluation code can rebuild it.
"""
from __future__ import annotations

import numpy as np

from ..data import minibatches
from ..layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, ReLU, Sequential)
from ..losses import SparseCategoricalCrossentropy, softmax
from ..progress import Progress

__all__ = ["mlp_classifier", "cnn_classifier", "train_epoch", "predict_logits", "evaluate"]


def mlp_classifier(rng: np.random.Generator, hidden=(256, 128), dtype=np.float32) -> Sequential:
    """784 -> hidden... -> 10 logits, ReLU between. Input (N, 28, 28)."""
    layers = [Flatten()]
    for units in hidden:
        layers += [Dense(units, kernel_initializer="he_normal"), ReLU()]
    layers.append(Dense(10))
    return Sequential(layers, input_shape=(28, 28), rng=rng, dtype=dtype, name="mlp")


def cnn_classifier(rng: np.random.Generator, width: int = 32, dtype=np.float32, hidden: int = 128) -> Sequential:
    """(N, 1, 28, 28) -> 10 logits.

    Conv(w, 5, s2) 28->14, BN, ReLU; Conv(2w, 5, s2) 14->7, BN, ReLU; Flatten;
    Dropout(0.3); Dense(hidden = 128), ReLU (the "features" layer the judge reports);
    Dense(10). Stride-2 convolutions downsample, as in the DCGAN discriminator.
    """
    return Sequential([
        Conv2D(width, 5, strides=2, padding="same", use_bias=False), BatchNormalization(), ReLU(),
        Conv2D(2 * width, 5, strides=2, padding="same", use_bias=False), BatchNormalization(), ReLU(),
        Flatten(), Dropout(0.3),
        Dense(hidden, kernel_initializer="he_normal"), ReLU(),
        Dense(10),
    ], input_shape=(1, 28, 28), rng=rng, dtype=dtype, name="cnn")


def train_epoch(model, optimizer, x, y, batch_size: int, rng: np.random.Generator,
                augment=None, label: str = "") -> float:
    """One pass over (x, y) in shuffled minibatches; returns the mean training loss.

    Each step is the whole story of supervised learning:
    forward -> loss -> backward (fills model.grads) -> optimizer.step().
    """
    loss_fn = SparseCategoricalCrossentropy(from_logits=True)
    model.train()
    steps = -(-len(x) // batch_size)
    progress = Progress(steps, label=label)
    total = 0.0
    for step, (xb, yb) in enumerate(minibatches(x, y, batch_size=batch_size, rng=rng), start=1):
        if augment is not None:
            xb = augment(xb, rng)
        logits = model.forward(xb)
        loss = loss_fn.forward(logits, yb)
        model.param_gradients(loss_fn.backward())      # the grads; nothing learns from dL/d(images)
        optimizer.step()
        total += loss * len(xb)
        progress.update(step, items=len(xb), loss=loss)
    return total / len(x)


def predict_logits(model, x, batch_size: int = 500) -> np.ndarray:
    """Logits (N, 10) in eval mode (no dropout, running BN statistics)."""
    model.eval()
    out = [model.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 10), dtype=model.dtype)


def evaluate(model, x, y) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model on (x, y), in eval mode."""
    logits = predict_logits(model, x)
    loss = SparseCategoricalCrossentropy(from_logits=True).forward(logits, y)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y))
    return loss, accuracy


def predict_proba(model, x, batch_size: int = 500) -> np.ndarray:
    """Class probabilities (N, 10)."""
    return softmax(predict_logits(model, x, batch_size), axis=1)
