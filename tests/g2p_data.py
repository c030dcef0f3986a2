"""A made-up language with a spelling rule an encoder-decoder must learn from context, written
for the G2P tests (no real dictionary is copied).

Words are 1-3 syllables of consonant + vowel (+ consonant). Letters map to phonemes one to one,
except: ``c`` is S before ``e`` or ``i`` and K elsewhere (it needs the next letter), ``th`` is
one phoneme TH (two letters, one output), a final ``e`` is silent, and a word ending in ``y``
has two pronunciations (IY and AY), as CMUdict's alternatives.
"""
import random

CONSONANTS = "bcdfgklmnprstv"
VOWELS = "aeiou"
ONSETS = [*CONSONANTS, "th", "th"]
PHONE = {"a": "AE", "e": "EH", "i": "IH", "o": "AA", "u": "AH", "b": "B", "d": "D", "f": "F", "g": "G",
         "k": "K", "l": "L", "m": "M", "n": "N", "p": "P", "r": "R", "s": "S", "t": "T", "v": "V"}


def pronounce(word):
    """The pronunciations of a word of the made-up language."""
    out, i = [], 0
    while i < len(word):
        ch = word[i]
        if word.startswith("th", i):
            out.append("TH")
            i += 2
            continue
        if ch == "c":
            out.append("S" if word[i + 1:i + 2] in ("e", "i") else "K")
        elif ch == "e" and i == len(word) - 1 and i > 0:
            pass  # silent final e
        elif ch == "y":
            return [tuple(out + ["IY"]), tuple(out + ["AY"])]
        else:
            out.append(PHONE[ch])
        i += 1
    return [tuple(out)]


def make_words(count, seed=0):
    rng = random.Random(seed)
    words = set()
    while len(words) < count:
        word = ""
        for _ in range(rng.randint(1, 3)):
            word += rng.choice(ONSETS) + rng.choice(VOWELS)
            if rng.random() < 0.3:
                word += rng.choice(CONSONANTS)
        if rng.random() < 0.1:
            word = word[:-1] + "y" if word[-1] in VOWELS else word + "y"
        words.add(word)
    return sorted(words)


def write_dictionary(path, count=600, seed=0):
    """Write ``count`` words in CMUdict's format (stress marks on vowels, alternatives as word(2),
    a comment line and an entry skipped for its spelling); returns {word: pronunciations}."""
    words = make_words(count, seed)
    lines = [";;; a made-up language for rnnkit's tests"]
    entries = {}
    for word in words:
        prons = pronounce(word)
        entries[word] = prons
        for k, pron in enumerate(prons):
            stressed = [p + "1" if p in ("AE", "EH", "IH", "AA", "AH", "IY", "AY") else p for p in pron]
            lines.append(f"{word}{'' if k == 0 else f'({k + 1})'}  {' '.join(stressed)}")
    lines.append("a.b.  EY1 B IY1  # an abbreviation: skipped")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return entries
