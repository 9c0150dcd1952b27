"""Does a simulated user's utterance name its hidden target? A fuzzy title-leak detector.

A title leaks when the utterance holds any of its aliases: the main title, each alternate title
("Seven (Se7en)") and the part before a colon (the franchise: "Star Wars"), all without a leading
article, lower case, accents and punctuation ignored. Multi-word aliases match fuzzily (rapidfuzz
``ratio`` ≥ ``CUTOFF`` over windows of one word fewer to one word more, with and without spaces),
which catches typos ("Toy Stroy"), run-together words ("toystory") and dropped articles. A one-word
alias matches as a whole word, or with a typo when it has at least six letters.

The detector errs on the side of a leak: a dropped utterance costs one fallback, a missed leak
makes the whole dialogue worthless. :func:`distinctive` keeps targets whose only alias is a short
or everyday word ("Up", "Heat") out of the simulation: they would leak in every sentence.
"""

from __future__ import annotations

from convrec.catalog.titles import fix_article, split_alternates
from convrec.dialogue.lexicon import STOPWORDS, tokenize

CUTOFF = 85.0  # ≈ one typo per seven characters, as convrec.dialogue.title_match
ARTICLES = frozenset(("the", "a", "an", "le", "la", "les", "el", "los", "las", "der", "die", "das"))
MIN_SINGLE = 5  # letters a one-word title needs to be simulated at all


def aliases(title: str) -> list[tuple[str, ...]]:
    """Every way the title may be named, as folded words without a leading article."""
    main, alternates = split_alternates(title)
    names = [main, *alternates]
    names += [n.split(":")[0] for n in (main, *alternates) if ":" in n]
    out: list[tuple[str, ...]] = []
    for name in names:
        words = [t.norm for t in tokenize(fix_article(name))]
        while len(words) > 1 and words[0] in ARTICLES:
            words = words[1:]
        if words and tuple(words) not in out:
            out.append(tuple(words))
    return out


def _single(word: str, alias: str) -> bool:
    from rapidfuzz import fuzz

    return word == alias or (len(alias) >= 6 and fuzz.ratio(word, alias) >= CUTOFF)


def leaks(text: str, title: str, cutoff: float = CUTOFF) -> bool:
    """True when ``text`` names ``title`` (or a fuzzy variant of it)."""
    from rapidfuzz import fuzz

    words = [t.norm for t in tokenize(text)]
    for alias in aliases(title):
        if len(alias) == 1:
            if any(_single(w, alias[0]) for w in words):
                return True
            continue
        spaced, joined = " ".join(alias), "".join(alias)
        for size in (len(alias) - 1, len(alias), len(alias) + 1):
            for i in range(len(words) - size + 1):
                window = words[i : i + size]
                if (
                    fuzz.ratio(" ".join(window), spaced) >= cutoff
                    or fuzz.ratio("".join(window), joined) >= cutoff
                ):
                    return True
    return False


def distinctive(title: str) -> bool:
    """A title that can be kept out of a sentence: its main alias is several words, or one word
    of at least ``MIN_SINGLE`` letters that is not a stopword."""
    found = aliases(title)
    if not found:
        return False
    main = found[0]
    return len(main) > 1 or (len(main[0]) >= MIN_SINGLE and main[0] not in STOPWORDS)


__all__ = ["aliases", "distinctive", "leaks"]
