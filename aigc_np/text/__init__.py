"""Character-level language models: data, CharLSTM and a small GPT, sampling and evaluation."""
from .data import (BOUNDARY, CORPORA, TextSplits, Vocab, load_corpus, load_names, load_shakespeare,
                   load_text_file, random_windows)

__all__ = ["Vocab", "TextSplits", "BOUNDARY", "CORPORA", "load_corpus", "load_names", "load_shakespeare",
           "load_text_file", "random_windows"]
