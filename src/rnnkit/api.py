"""The Python face of rnnkit: load a run folder and get its task's predictor::

    import rnnkit
    lm = rnnkit.load("runs/linux")                  # a charlm run: a LanguageModel
    print(lm.sample("static int", length=200, temperature=0.8, seed=1))
    lm.score("int main(void) { return 0; }")        # {'nats_per_char': ..., 'bits_per_char': ..., 'chars': 27, ...}

    ptb = rnnkit.load("runs/ptb")                   # a wordlm run: a WordLanguageModel
    ptb.sample("the company said", length=30)       # words; <eos> as a line break
    ptb.score("the market fell <eos>".split())      # {'perplexity': ..., 'nats_per_word': ..., 'words': 4, ...}

    tagger = rnnkit.load("runs/ewt")                # a tagger run: a Tagger
    tagger.tag(["I", "saw", "her", "duck", "."])    # ['PRON', 'VERB', 'PRON', 'NOUN', 'PUNCT']

    digits = rnnkit.load("runs/digits")             # a digits run: a DigitClassifier
    digits.classify(["seven.wav"])                  # [(7, 0.998)]

    cd = rnnkit.load("runs/cd")                     # a connected run: a Transcriber
    cd.transcribe(["phone.wav"], "lexicon")[0].digits   # (5, 5, 1, 2)

    adder = rnnkit.load("runs/add")                 # an addition run: an Adder
    adder.add(2 ** 100 + 1, 3)                      # any length, though trained on 8 bits

    g2p = rnnkit.load("runs/g2p")                   # a g2p run: a G2P
    g2p.pronounce("rnnkit")                         # ['R', 'N', 'K', 'IH', 'T'] or what it learnt
"""
from __future__ import annotations

from typing import Any

from .recipes import RECIPES, task_of
from .recipes.addition import Adder
from .recipes.charlm import LanguageModel
from .recipes.digits import DigitClassifier
from .recipes.g2p import G2P
from .recipes.transcriber import Transcriber
from .recipes.tagger import Tagger
from .recipes.wordlm import WordLanguageModel

__all__ = ["Adder", "DigitClassifier", "G2P", "LanguageModel", "Tagger", "Transcriber", "WordLanguageModel", "load"]


def load(run_dir: str, device: str = "cpu") -> Any:
    """The predictor of a run folder (fp32, on ``device``): the recipe named by its config.json's
    ``task`` decides which (:class:`LanguageModel` for charlm, :class:`WordLanguageModel` for wordlm,
    :class:`Tagger` for tagger, :class:`DigitClassifier` for digits, :class:`Transcriber` for connected, :class:`Adder` for addition,
    :class:`G2P` for g2p)."""
    return RECIPES[task_of(run_dir)].load(run_dir, device)
