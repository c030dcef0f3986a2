"""Decoders: greedy (+ repeat merging, CTC collapse), CTC prefix beam search with an optional
language model, dictionary-constrained search, and one entry point for batches and files."""
from .beam import prefix_beam_search
from .decode import METHODS, decode_batch, decode_file, load_log_probs
from .greedy import ctc_collapse, greedy_decode, merge_repeats
from .hypothesis import Hypothesis
from .lexicon import Lexicon, lexicon_beam_search
from .lm import LMScorer
from .ngram import NgramLM

__all__ = ["Hypothesis", "LMScorer", "Lexicon", "METHODS", "NgramLM", "ctc_collapse", "decode_batch",
           "decode_file", "greedy_decode", "lexicon_beam_search", "load_log_probs", "merge_repeats",
           "prefix_beam_search"]
