"""Character-level language models (lessons 12-14): data, CharLSTM and a small GPT, sampling, evaluation.

    from aigc_np.text import load_shakespeare, build_text_model, text_config
    data = load_shakespeare()
    model = build_text_model("gpt", {**text_config("gpt", preset="nanogpt-cpu"), "vocab": data.vocab.chars})
"""
from .data import (BOUNDARY, CORPORA, TextSplits, Vocab, load_corpus, load_names, load_shakespeare,
                   load_text_file, random_windows)
from .evaluation import baselines, model_loss, to_bits
from .models import GPT, CharLSTM
from .registry import PRESETS, TEXT_CONFIGS, TEXT_KINDS, build_text_model, param_count, text_config

__all__ = ["Vocab", "TextSplits", "BOUNDARY", "CORPORA", "load_corpus", "load_names", "load_shakespeare",
           "load_text_file", "random_windows", "baselines", "model_loss", "to_bits", "GPT", "CharLSTM",
           "TEXT_KINDS", "TEXT_CONFIGS", "PRESETS", "text_config", "build_text_model", "param_count"]
