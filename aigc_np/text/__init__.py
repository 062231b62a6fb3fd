"""Language models (lessons 12-14, 19-20): data, CharLSTM and a small GPT, sampling, evaluation,
a byte-level BPE tokenizer (bpe.py) and Tang poems measured as poems (poems.py).

    from aigc_np.kinds import build_model
    from aigc_np.text import load_shakespeare
    data = load_shakespeare()
    model = build_model("gpt", {"vocab": data.vocab.chars})     # nanoGPT's CPU configuration
"""
from .bpe import BPE
from .data import (BOUNDARY, CORPORA, TextSplits, UnknownCorpus, Vocab, check_block_size, load_corpus, load_names,
                   load_shakespeare, load_tang, load_text_file, random_windows)
from .evaluation import baselines, framed_loss, model_loss, to_bits
from .models import GPT, CharLSTM

__all__ = ["Vocab", "BPE", "TextSplits", "BOUNDARY", "CORPORA", "UnknownCorpus", "check_block_size", "load_corpus",
           "load_names", "load_tang", "load_shakespeare", "load_text_file", "random_windows", "baselines",
           "framed_loss", "model_loss", "to_bits", "GPT", "CharLSTM"]
