"""rnnkit: recurrent sequence learning on PyTorch.

>>> import rnnkit
>>> callable(rnnkit.load)
True
"""
from .api import Adder, DigitClassifier, LanguageModel, Tagger, Transcriber, WordLanguageModel, load
from .errors import RnnkitError

__version__ = "0.1.0"
__all__ = ["Adder", "DigitClassifier", "LanguageModel", "RnnkitError", "Tagger", "Transcriber", "WordLanguageModel", "load",
           "__version__"]
