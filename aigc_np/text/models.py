"""Character-level language models: CharLSTM and a small GPT, with training steps and generation.

Both map ids (B, T) to next-character logits (B, T, V) and share

* ``loss(x, y)``: mean cross-entropy in nats per character (no backward);
* ``train_step(x, y)``: forward, backward, global-norm clipping, one AdamW step;
* ``generate(prompt_ids, n, temperature, top_k, top_p, rng)``: n new ids,
  one model step per id: the GPT keeps every layer's keys and values (a KV
  cache), the LSTM carries its (h, c) state.
"""
from __future__ import annotations

import numpy as np

from ..layers import LSTM, Block, Dense, Dropout, Embedding, LayerNormalization, PositionalEmbedding, backend
from ..layers.transformer import layer_norm
from ..models.base import Model
from ..optimizers import AdamW, clip_grad_norm
from .fast_head import head_crossentropy, head_crossentropy_backward
from .loss import SequenceCrossentropy
from .sampling import check_sampling, sample_next

__all__ = ["GPT", "CharLSTM", "gpt_param_count", "lstm_param_count"]


def gpt_param_count(n_layer: int, n_embd: int, block_size: int, vocab_size: int, **_) -> int:
    """Parameters of a GPT, from its config: tokens V*C, positions T*C, per block 12 C^2 + 10 C
    (q, k, v 3C^2; out C^2 + C; MLP 8C^2 + 5C; two LayerNorms 4C), final LayerNorm 2C, head C*V + V."""
    c, v = n_embd, vocab_size
    return v * c + block_size * c + n_layer * (12 * c * c + 10 * c) + 2 * c + c * v + v


def lstm_param_count(n_layer: int, n_embd: int, hidden: int, vocab_size: int, **_) -> int:
    """Parameters of a CharLSTM: embedding V*E, per LSTM layer (D + H + 1) * 4H, head H*V + V."""
    total, d = vocab_size * n_embd, n_embd
    for _ in range(n_layer):
        total += (d + hidden + 1) * 4 * hidden
        d = hidden
    return total + hidden * vocab_size + vocab_size


def _check_ids(ids, vocab_size: int, who: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" or ids.ndim != 2:
        raise ValueError(f"{who}: expected integer ids of shape (B, T), got {ids.dtype} {ids.shape}")
    return ids


class _LanguageModel(Model):
    """What both models share: the loss, the training step, the optimizer, generation."""

    block_size: int
    vocab_size: int

    def _setup_training(self, lr, weight_decay, beta1, beta2, grad_clip):
        self.loss_fn = SequenceCrossentropy()
        self.grad_clip = grad_clip
        self.optimizer = AdamW(self, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay)

    def loss(self, x, y) -> float:
        """Mean nats per character of predicting y (B, T) from x (B, T)."""
        return self.loss_fn.forward(self.forward(x), y)

    def train_step(self, x, y) -> dict:
        """One AdamW step on a batch of windows; returns the loss and the gradient norm before clipping."""
        self.train()
        value = self.loss(x, y)
        self.loss_backward()
        norm = clip_grad_norm(self, self.grad_clip) if self.grad_clip else float("nan")
        self.optimizer.step()
        return {"loss": value, "grad_norm": norm}

    def loss_backward(self) -> None:
        """Backpropagate the last ``loss`` through the model (parameter gradients assigned)."""
        self.backward(self.loss_fn.backward())

    def generate(self, prompt_ids, n: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, rng: np.random.Generator | None = None,
                 use_cache: bool = True) -> np.ndarray:
        """The prompt's ids (T0 >= 1,) followed by n sampled ids, as int64 (T0 + n,).

        ``use_cache=False`` recomputes the whole context at every step (the
        reference the cache is tested and timed against); both see the same
        contexts, so with the same rng they draw the same text.
        """
        check_sampling(temperature, top_k, top_p)
        if int(n) < 0:
            raise ValueError(f"{type(self).__name__}.generate: n must be >= 0, got {n}")
        rng = np.random.default_rng() if rng is None else rng
        ids = [int(i) for i in np.asarray(prompt_ids).reshape(-1)]
        if not ids:
            raise ValueError(f"{type(self).__name__}.generate: the prompt needs at least one character")
        if min(ids) < 0 or max(ids) >= self.vocab_size:
            raise ValueError(f"{type(self).__name__}.generate: prompt ids must lie in [0, {self.vocab_size})")
        self.eval()
        step = self._cached_steps(ids) if use_cache else self._uncached_steps(ids)
        logits = next(step)
        for _ in range(int(n)):
            ids.append(int(sample_next(logits, rng, temperature, top_k, top_p)[0]))
            logits = step.send(ids[-1])
        return np.array(ids, dtype=np.int64)


class GPT(_LanguageModel):
    """A decoder-only transformer (GPT-2's layout, Radford et al. 2019) over characters.

        h = Dropout(tok[x] + pos[t]);  h = Block_l(h) for l = 1..n_layer;  logits = LN(h) W_head + b

    Shapes: ids (B, T <= block_size) -> logits (B, T, vocab_size). Weights start
    N(0, 0.02^2), with each residual branch's output projection scaled by
    1/sqrt(2 n_layer) so the residual stream's variance does not grow with depth.
    """

    kind = "gpt"

    def __init__(self, n_layer: int, n_head: int, n_embd: int, block_size: int, vocab_size: int,
                 dropout: float = 0.0, rng: np.random.Generator | None = None, dtype=np.float32,
                 lr: float = 1e-3, weight_decay: float = 0.1, beta1: float = 0.9, beta2: float = 0.99,
                 grad_clip: float = 1.0):
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        rng = np.random.default_rng(0) if rng is None else rng
        self.n_layer, self.block_size, self.vocab_size = int(n_layer), int(block_size), int(vocab_size)
        parts = {"tok": Embedding(vocab_size, n_embd), "pos": PositionalEmbedding(block_size),
                 "drop": Dropout(dropout)}
        parts.update({f"block{i}": Block(n_head, dropout) for i in range(self.n_layer)})
        parts["ln_f"] = LayerNormalization(epsilon=1e-5)
        parts["head"] = Dense(vocab_size, kernel_initializer="normal_0.02")
        super().__init__(**parts)
        seq = (block_size, n_embd)
        parts["tok"].build((block_size,), rng, dtype)
        for name, layer in parts.items():
            if name.startswith(("pos", "drop", "block")):
                layer.build(seq, rng, dtype)
        parts["ln_f"].build((n_embd,), rng, dtype)
        parts["head"].build(seq, rng, dtype)
        for i in range(self.n_layer):
            for key in ("attn.Wo", "mlp_out.W"):
                parts[f"block{i}"].params[key] *= np.asarray(1 / np.sqrt(2 * self.n_layer), dtype)
        self._setup_training(lr, weight_decay, beta1, beta2, grad_clip)
        self._head_cache = None

    @property
    def blocks(self):
        return [self.parts[f"block{i}"] for i in range(self.n_layer)]

    def _rows(self, ids):
        """The final LayerNorm's output for ids (B, T), as (B*T, C) rows (2-D matmuls for the head)."""
        ids = _check_ids(ids, self.vocab_size, "GPT")
        if ids.shape[1] > self.block_size:
            raise ValueError(f"GPT: sequences of {ids.shape[1]} ids exceed block_size {self.block_size}")
        p = self.parts
        h = p["drop"].forward(p["pos"].forward(p["tok"].forward(ids)))
        for block in self.blocks:
            h = block.forward(h)
        self._ids_shape = ids.shape
        return p["ln_f"].forward(h.reshape(-1, h.shape[-1]))

    def forward(self, ids):
        rows = self._rows(ids)
        return self.parts["head"].forward(rows).reshape(self._ids_shape + (self.vocab_size,))

    def backward(self, dlogits):
        self._backward_rows(self.parts["head"].backward(dlogits.reshape(-1, dlogits.shape[-1])))

    def _backward_rows(self, drows):
        """From dL/d(final LayerNorm's output rows) (B*T, C) down to the embeddings."""
        p = self.parts
        d = p["ln_f"].backward(drows).reshape(self._ids_shape + (-1,))
        for block in reversed(self.blocks):
            d = block.backward(d)
        p["tok"].backward(p["pos"].backward(p["drop"].backward(d)))

    def loss(self, x, y) -> float:
        """Mean nats per character; the fast path fuses the head and the softmax cross-entropy
        (text/fast_head.py), the reference runs ``Dense`` and then ``SequenceCrossentropy``."""
        self._head_cache = None
        if not backend.fast():
            return super().loss(x, y)
        rows = self._rows(x)
        if not isinstance(y, np.ndarray) or y.shape != self._ids_shape:
            raise ValueError(f"GPT.loss: expected targets of shape {self._ids_shape}, got "
                             f"{getattr(y, 'shape', type(y).__name__)}")
        head = self.parts["head"].params
        value, self._head_cache = head_crossentropy(rows, head["W"], head["b"], y.reshape(-1))
        return value

    def loss_backward(self) -> None:
        if self._head_cache is None:
            return super().loss_backward()
        head = self.parts["head"]
        drows, head.grads["W"], head.grads["b"] = head_crossentropy_backward(self._head_cache, head.params["W"])
        self._head_cache = None
        self._backward_rows(drows)

    def infer(self, ids, caches: list, offset: int):
        """Logits for new ids (B, T_new) at positions offset.., given each block's KV cache.

        Eval-mode maths read straight from the parameters (see ``Block.infer``).
        """
        p = self.parts
        h = p["tok"].params["table"][ids] + p["pos"].params["pos"][offset:offset + ids.shape[1]]
        for block, cache in zip(self.blocks, caches):
            h = block.infer(h, cache)
        rows = layer_norm(h, p["ln_f"]).reshape(-1, h.shape[-1])
        return (rows @ p["head"].params["W"] + p["head"].params["b"]).reshape(ids.shape + (self.vocab_size,))

    def _window(self, ids, start):
        """Where the context starts: once it would exceed block_size, keep the last half."""
        return len(ids) - self.block_size // 2 if len(ids) - start > self.block_size else start

    def _cached_steps(self, ids):
        start = self._window(ids, max(0, len(ids) - self.block_size))
        while True:
            caches = [{} for _ in self.blocks]
            logits = self.infer(np.array([ids[start:]]), caches, 0)
            while True:
                new = yield logits[:, -1]
                ids_len = len(ids)
                if ids_len - start > self.block_size:          # the cache is full: start a new window
                    start = self._window(ids, start)
                    break
                logits = self.infer(np.array([[new]]), caches, ids_len - 1 - start)

    def _uncached_steps(self, ids):
        start = self._window(ids, max(0, len(ids) - self.block_size))
        while True:
            yield self.forward(np.array([ids[start:]]))[:, -1]
            start = self._window(ids, start)


class CharLSTM(_LanguageModel):
    """Embedding, n_layer stacked LSTMs, a dense head: logits (B, T, V) from ids (B, T).

    Trained on windows of ``block_size`` characters, each started from a zero
    state; generation carries every layer's (h, c) from one character to the next.
    """

    kind = "lstm"

    def __init__(self, vocab_size: int, n_embd: int = 64, hidden: int = 256, n_layer: int = 1,
                 block_size: int = 64, rng: np.random.Generator | None = None, dtype=np.float32,
                 lr: float = 2e-3, weight_decay: float = 0.0, beta1: float = 0.9, beta2: float = 0.99,
                 grad_clip: float = 1.0):
        rng = np.random.default_rng(0) if rng is None else rng
        self.n_layer, self.block_size, self.vocab_size = int(n_layer), int(block_size), int(vocab_size)
        parts = {"tok": Embedding(vocab_size, n_embd)}
        parts.update({f"lstm{i}": LSTM(hidden) for i in range(self.n_layer)})
        parts["head"] = Dense(vocab_size)
        super().__init__(**parts)
        parts["tok"].build((block_size,), rng, dtype)
        d = n_embd
        for i in range(self.n_layer):
            parts[f"lstm{i}"].build((block_size, d), rng, dtype)
            d = hidden
        parts["head"].build((block_size, hidden), rng, dtype)
        self._setup_training(lr, weight_decay, beta1, beta2, grad_clip)

    @property
    def lstms(self):
        return [self.parts[f"lstm{i}"] for i in range(self.n_layer)]

    def forward(self, ids, states=None):
        """ids (B, T) -> logits (B, T, V); ``states``: optional per-layer (h, c) to start from."""
        ids = _check_ids(ids, self.vocab_size, "CharLSTM")
        h = self.parts["tok"].forward(ids)
        for i, lstm in enumerate(self.lstms):
            h = lstm.forward(h, None if states is None else states[i])
        return self.parts["head"].forward(h.reshape(-1, h.shape[-1])).reshape(h.shape[:2] + (self.vocab_size,))

    @property
    def states(self):
        """Every layer's final (h, c) after the last forward."""
        return [lstm.state for lstm in self.lstms]

    def backward(self, dlogits):
        d = self.parts["head"].backward(dlogits.reshape(-1, dlogits.shape[-1])).reshape(dlogits.shape[:2] + (-1,))
        for lstm in reversed(self.lstms):
            d = lstm.backward(d)
        self.parts["tok"].backward(d)

    def _cached_steps(self, ids):
        logits = self.forward(np.array([ids]))
        while True:
            new = yield logits[:, -1]
            logits = self.forward(np.array([[new]]), self.states)

    def _uncached_steps(self, ids):
        while True:
            yield self.forward(np.array([ids]))[:, -1]
