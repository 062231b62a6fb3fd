"""Poem measures (form, novelty, copies), the acrostic check and the batched poem sampler."""
import numpy as np
import pytest

from aigc_np.kinds import get_kind
from aigc_np.text.data import Vocab
from aigc_np.text.poems import acrostic_hits, check_acrostic, is_quatrain, poem_lines, poem_scores, sample_poems

FIVE = "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
SEVEN = "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"


def test_a_quatrain_is_four_lines_of_five_or_seven_han_characters_punctuated_in_turn():
    assert is_quatrain(FIVE) and is_quatrain(SEVEN)
    assert not is_quatrain(FIVE[:12] + SEVEN[16:])                     # five, then seven
    assert not is_quatrain(FIVE.replace("流。", "流，"))                # "，，，。"
    assert not is_quatrain(FIVE[:12])                                   # two lines
    assert not is_quatrain(FIVE + FIVE)                                 # eight lines
    assert not is_quatrain(FIVE + "\n") and not is_quatrain("白日依山a，黄河入海流。欲穷千里目，更上一层楼。")
    assert not is_quatrain(FIVE.replace("尽", "尽尽"))                  # a line of six
    assert poem_lines(FIVE) == ["白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"]


def test_scores_count_form_new_lines_and_copied_poems():
    train = [FIVE]
    new = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"
    mixed = "白日依山尽，处处闻啼鸟。夜来风雨声，更上一层楼"          # two known lines, no final mark
    scores = poem_scores([FIVE, new, mixed, SEVEN], train, [FIVE, SEVEN])
    assert scores["poems"] == 4 and scores["lines"] == 16
    assert scores["form"] == 3 / 4
    assert scores["novelty"] == (0 + 4 + 2 + 4) / 16
    assert scores["copies"] == 2 / 4
    assert acrostic_hits(new, "春处夜花") == 4 and acrostic_hits(new, "春夜") == 1 and acrostic_hits("春眠", "春处") == 1
    with pytest.raises(ValueError, match="at least one"):
        poem_scores([], train, train)


def test_an_acrostic_must_be_one_to_four_han_characters_the_model_has_seen():
    vocab = Vocab("\n春眠不觉，。")
    assert check_acrostic("春眠不觉", vocab) == "春眠不觉"
    with pytest.raises(ValueError, match=r"--acrostic '春晓不龘': 2 character\(s\) the model never saw in "
                                         r"training: '晓', '龘'"):
        check_acrostic("春晓不龘", vocab)
    with pytest.raises(ValueError, match="every character must be a Han character, got ' ', 'a'"):
        check_acrostic("春 a", vocab)
    with pytest.raises(ValueError, match="expected 1 to 4 characters"):
        check_acrostic("春眠不觉春", vocab)


class _Scripted:
    """A stand-in language model that always predicts the next character of one fixed text."""

    def __init__(self, vocab: Vocab, text: str):
        self.script, self.vocab_size, self.block_size = vocab.encode(text), vocab.size, 64
        self.blocks = [object()]

    def eval(self):
        return self

    def infer(self, ids, caches, offset):
        logits = np.zeros(ids.shape + (self.vocab_size,))
        nxt = self.script[np.minimum(offset + np.arange(ids.shape[1]) + 1, len(self.script) - 1)]
        logits[:, np.arange(ids.shape[1]), nxt] = 10.0
        return logits


def test_sampling_stops_at_the_newline_and_an_acrostic_replaces_each_line_start():
    vocab = Vocab.from_text("\n" + FIVE + SEVEN + "春眠不觉")
    model = _Scripted(vocab, "\n" + FIVE + "\n" + SEVEN)
    rng = np.random.default_rng(0)
    assert sample_poems(model, vocab, 3, rng, temperature=0) == [FIVE] * 3
    heads = sample_poems(model, vocab, 2, rng, temperature=0, acrostic="春眠不觉")
    assert heads == ["春日依山尽，眠河入海流。不穷千里目，觉上一层楼。"] * 2
    assert sample_poems(model, vocab, 1, rng, temperature=0, acrostic="春眠") == ["春日依山尽，眠河入海流。欲穷千里目，更上一层楼。"]
    assert sample_poems(model, vocab, 2, rng, temperature=0, acrostic=["春", "不觉"]) == [
        "春日依山尽，黄河入海流。欲穷千里目，更上一层楼。", "不日依山尽，觉河入海流。欲穷千里目，更上一层楼。"]
    two_lines = _Scripted(vocab, "\n" + FIVE[:12] + "\n" + FIVE)     # a poem that ends after two lines
    assert sample_poems(two_lines, vocab, 1, rng, temperature=0) == [FIVE[:12]]
    longer, = sample_poems(two_lines, vocab, 1, rng, temperature=0, acrostic="春眠不")
    assert longer.startswith("春日依山尽，眠河入海流。") and len(longer) > 12          # the newline waits for line 3
    short = _Scripted(vocab, "\n" + FIVE)
    short.block_size = 8                                # no newline within 7 characters: the poem is cut
    assert sample_poems(short, vocab, 1, rng, temperature=0) == [FIVE[:7]]


def test_batched_poems_match_one_at_a_time_generation_of_a_gpt_and_an_lstm():
    vocab = Vocab.from_text("\n" + FIVE + SEVEN)
    for name, extra in (("gpt", {"n_head": 2}), ("lstm", {"hidden": 8})):
        config = {**get_kind(name, "test").recipe()[0], "vocab": vocab.chars, "n_layer": 1, "n_embd": 8,
                  "block_size": 40, **extra}
        model = get_kind(name, "test").build_model(config, np.random.default_rng(3))
        poems = sample_poems(model, vocab, 3, np.random.default_rng(0), temperature=0, max_chars=20)
        alone = vocab.decode(model.generate(vocab.encode("\n"), 20, temperature=0)[1:]).split("\n")[0]
        assert poems == [alone] * 3
        drawn = sample_poems(model, vocab, 5, np.random.default_rng(1), acrostic="白黄欲更", batch_size=2)
        assert len(drawn) == 5 and all(acrostic_hits(p, "白黄欲更") == min(4, len(poem_lines(p))) for p in drawn)
