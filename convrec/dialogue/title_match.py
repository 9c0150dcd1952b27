"""Catalog titles in a user message: fuzzy (typos), with ambiguity kept, never invented ids.

Each window of n message words is compared (rapidfuzz ``ratio``) with every alias of n words
(see ``Lexicon._index_titles``). One-word aliases are risky ("Up", "Heat", "Her"): they match only
exactly, and only when the word is capitalised or quoted in the message, or is a long word that is
not an everyday request word. Titles that score within ``gap`` of the best are all kept, so
"Dracula" (1931 and 1979) comes back ambiguous unless a year follows the title, or one of the
items dwarfs the others in popularity ("Titanic" is the 1997 film). "The first Avengers" is the
earliest of its items that starts a series. A one-word title that is a stopword ("It") does not
match at the start of a sentence, nor one followed by a capitalised word ("Dave Chapelle" is a
person), nor a lower-case title made of everyday time words ("last night").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from convrec.catalog.titles import variant_key
from convrec.dialogue.lexicon import STOPWORDS, Lexicon, Token, fold

CUTOFF = 85.0  # minimum ratio for multi-word titles (≈ one typo per 7 characters)
GAP = 3.0  # titles scoring within GAP of the best are equally plausible → ambiguous
COMMON = frozenset((
    "recommend", "something", "movie", "movies", "film", "films", "phone", "phones", "tablet",
    "watch", "please", "thanks", "thank", "similar", "better", "cheaper", "bigger", "smaller",
    "newer", "older", "really", "pretty", "little", "another", "anything", "around", "between",
    "without", "before", "after", "action", "comedy", "horror", "drama",
))  # fmt: skip
FUNCTION_WORDS = STOPWORDS | {
    "from", "about", "like", "some", "something", "than", "but", "at", "by", "as", "so", "very",
    "too", "just", "please", "want", "need", "show", "give", "find", "similar", "movie", "phone",
}  # fmt: skip
# An ambiguous title resolves to its most popular item when that one has at least DOMINANT_MIN
# popularity (MovieLens: ratings) and DOMINANT times the next one's.
DOMINANT, DOMINANT_MIN = 5.0, 20.0
_YEAR = re.compile(r"^(19|20)\d\d$")
# A colon right after a title, then a word with no space or a capitalised one, starts a subtitle:
# "Jumanji:next level", "Star Wars: The Last Jedi" name a longer title than the one matched.
_SUBTITLE = re.compile(r"\s*:(?:\S|\s+[A-Z0-9])")


@dataclass(frozen=True)
class TitleMatch:
    """Message tokens [first, last) name the items ``ids`` (more than one: ambiguous)."""

    first: int
    last: int
    ids: tuple[str, ...]
    score: float

    @property
    def ambiguous(self) -> bool:
        return len(self.ids) > 1


# Verbs after which a lower-case one-word title counts ("i loved alien", "we hated jaws").
OPINION_VERBS = frozenset(("liked", "loved", "enjoyed", "adored", "adore", "hated", "disliked"))
# Words after which a bare number names a title ("2001", "1917"), not a year
NAMING_BEFORE = OPINION_VERBS | {"skip", "except", "besides", "seen", "watched"}


def _sentence_start(text: str, tok: Token) -> bool:
    before = text[: tok.start].rstrip(" \"'“‘«(")
    return not before or before[-1] in ".!?:;"


def _single_ok(text: str, toks: list[Token], i: int, lex: Lexicon) -> bool:
    tok = toks[i]
    quoted = text[max(0, tok.start - 1) : tok.start] in "\"'“‘«" and tok.start > 0
    word = text[tok.start : tok.end]
    if tok.norm in STOPWORDS:
        # "It", "Her", "Up": a capital at the start of a sentence is no sign ("It's great")
        return (
            quoted
            or (len(word) > 1 and word.isupper())
            or (word[0].isupper() and not _sentence_start(text, tok))
        )
    if _named_person(text, toks, i) or _hyphenated(text, tok):
        return False
    if word[0].isupper() or quoted:
        return True
    if word.isdigit() and i > 0 and toks[i - 1].norm in NAMING_BEFORE:
        return True  # "skip 2001 and Star Wars": the film, not the year
    if i > 0 and toks[i - 1].norm in OPINION_VERBS | {"love"} and len(tok.norm) >= 3:
        # "i liked alien", "i would love elf": right after an opinion verb a lower-case word
        # may be a title
        return tok.norm not in COMMON and tok.norm not in lex.values
    return (
        len(tok.norm) >= 6
        and tok.norm not in COMMON
        and tok.norm not in lex.values
        and tok.norm not in lex.common  # "act together" names no "Together"
        and tok.norm not in lex.keyword_words()  # "haunted houses" names no "Haunted"
    )


def _hyphenated(text: str, tok: Token) -> bool:
    """The word is part of a hyphenated one: "Spider-Man" names no film "Spider"."""
    return text[tok.end : tok.end + 1] == "-" or text[max(0, tok.start - 1) : tok.start] == "-"


def _compound(lex: Lexicon, text: str, toks: list[Token], m: TitleMatch) -> bool:
    """Words joined by hyphens into one ("that walking-and-talking vibe") name no title
    written with spaces ("Walking and Talking"); "Spider-Man" still names Spider-Man."""
    if m.last - m.first < 2:
        return False
    gaps = [text[toks[i].end : toks[i + 1].start] for i in range(m.first, m.last - 1)]
    return all(g == "-" for g in gaps) and not any(
        "-" in lex.items[i].title for i in m.ids if i in lex.items
    )


def _named_person(text: str, toks: list[Token], i: int) -> bool:
    """A capitalised word right after the one-word title makes it a first name: "Dave
    Chapelle", "Anna Faris" are people, not the films "Dave" and "Anna"."""
    if i + 1 >= len(toks) or text[toks[i].end : toks[i + 1].start].strip():
        return False
    nxt = text[toks[i + 1].start : toks[i + 1].end]
    return nxt[0].isupper() and toks[i + 1].norm != "i" and not nxt.isupper()


def _year_of(lex: Lexicon, item_id: str) -> str:
    it = lex.items[item_id]
    year = it.attributes.get("year", it.attributes.get("release_year"))
    return str(year) if year is not None else (it.date or "")[:4]


def find_titles(
    lex: Lexicon, text: str, toks: list[Token], cutoff: float = CUTOFF, gap: float = GAP
) -> list[TitleMatch]:
    """Non-overlapping title mentions in ``text`` (tokenised as ``toks``), best first. A title
    followed by a subtitle ("Jumanji: The Next Level") names another film, not this one."""
    from rapidfuzz import fuzz, process

    words = [t.norm for t in toks]
    found: list[TitleMatch] = []
    for n, aliases in lex.aliases.items():
        if n > len(words):
            continue
        starts = list(range(len(words) - n + 1))
        if n == 1:
            exact: dict[str, list[tuple[float, str]]] = {}
            for a, item_id, penalty in aliases:
                exact.setdefault(a, []).append((100.0 - penalty, item_id))
            for i in starts:
                joined = words[i] + words[i + 1] if i + 1 < len(words) else ""
                if words[i] in exact and _single_ok(text, toks, i, lex):
                    hits, last = exact[words[i]], i + 1
                elif len(joined) >= 8 and joined in exact and joined not in lex.values:
                    hits, last = exact[joined], i + 2  # "Good fellas" for "Goodfellas"
                elif words[i] in lex.closed_titles() and _single_ok(text, toks, i, lex):
                    hits, last = lex.closed_titles()[words[i]], i + 1  # "Oldboy": "Old Boy"
                else:
                    continue
                best = max(sc for sc, _ in hits)
                ids = tuple(dict.fromkeys(j for sc, j in hits if sc >= best - gap))
                found.append(TitleMatch(i, last, ids, best))
            continue
        windows = [" ".join(words[i : i + n]) for i in starts]
        scores = process.cdist(
            windows, [a for a, _, _ in aliases], scorer=fuzz.ratio, score_cutoff=cutoff
        ) - np.array([p for _, _, p in aliases], dtype=np.float32)
        for row, i in enumerate(starts):
            best = float(scores[row].max()) if len(aliases) else 0.0
            if best < cutoff:
                continue
            cols = [c for c in (scores[row] >= best - gap).nonzero()[0]
                    if _aligned(windows[row], aliases[c][0])]  # fmt: skip
            if not cols:
                continue
            best = max(float(scores[row][c]) for c in cols)
            cols = [c for c in cols if scores[row][c] >= best - gap]
            ids = tuple(dict.fromkeys(aliases[c][1] for c in cols))
            found.append(TitleMatch(i, i + n, ids, best))
    # equal scores: the match with more words beyond articles ("toy story" over "the toy")
    found.sort(key=lambda m: (-m.score, -_content(words, m), -(m.last - m.first), m.first))
    taken: set[int] = set()
    out: list[TitleMatch] = []
    for m in found:
        span = set(range(m.first, m.last))
        if span & taken or _subtitled(lex, text, toks, m) or _everyday(text, toks, m):
            continue
        if _audience(text, toks, m) or _described(lex, text, toks, m) or _age(toks, m):
            continue
        if _longer_name(lex, text, toks, m) or _compound(lex, text, toks, m):
            continue
        if (
            _qualifies(lex, text, toks, m)
            or _other_year(lex, m, words)
            or _loose(lex, text, toks, m)
        ):
            continue
        taken |= span
        m = _numbered(lex, m, words) or _first_of_series(lex, _by_year(lex, m, words), words)
        out.append(_by_popularity(lex, _by_person(lex, m, text)))
    return sorted(out, key=lambda m: m.first)


def _subtitled(lex: Lexicon, text: str, toks: list[Token], m: TitleMatch) -> bool:
    """The message gives the title a subtitle that none of the matched items has, so it names
    another film ("Jumanji:next level" is not "Jumanji"); titles with a subtitle of their own
    ("Star Wars: Episode IV …", matched by a shorter alias) are kept."""
    if not _SUBTITLE.match(text, toks[m.last - 1].end):
        return False
    return not any(":" in lex.items[i].title for i in m.ids)


# Words of everyday time and look phrases: a title made only of them and typed in lower case is
# the phrase ("I watched it last night", "black and white", "a date night movie"), not the film
# "Last Night".
EVERYDAY = frozenset((
    "last", "night", "next", "week", "weekend", "today", "tonight", "yesterday", "morning",
    "year", "day", "days", "time", "this", "that", "the", "a", "home", "again", "first", "other",
    "one", "all", "good", "new", "now", "here", "there", "black", "white", "and", "colour", "color",
    "date",
))  # fmt: skip


def _everyday(text: str, toks: list[Token], m: TitleMatch) -> bool:
    span = text[toks[m.first].start : toks[m.last - 1].end]
    return span.islower() and all(toks[i].norm in EVERYDAY for i in range(m.first, m.last))


# Verbs before "for" that seek something: "looking for toy story" may still name the film.
SEEKING = frozenset((
    "look", "looking", "search", "searching", "ask", "asking", "hunt", "hunting", "hope",
    "hoping", "vote", "voted", "go", "going", "went",
))  # fmt: skip


def _audience(text: str, toks: list[Token], m: TitleMatch) -> bool:
    """A title typed in lower case right after "for" names an audience or an occasion, not the
    film: "like Toy Story but for grown-ups" (not "Grown Ups"), "something for halloween"."""
    if m.first == 0 or toks[m.first - 1].norm != "for":
        return False
    if m.first >= 2 and toks[m.first - 2].norm in SEEKING:
        return False
    return text[toks[m.first].start : toks[m.last - 1].end].islower()


_INDEFINITE = frozenset(("a", "an", "another", "any", "some"))


def _longer_name(lex: Lexicon, text: str, toks: list[Token], m: TitleMatch) -> bool:
    """A "The …" title matched without its article, with "the" and a capitalised word before
    it: part of a longer name ("the Spanish Civil War" is no "The Civil War")."""
    if m.first < 2 or toks[m.first - 2].norm != "the":
        return False
    word = text[toks[m.first - 1].start : toks[m.first - 1].end]
    refs = lex.values.get(toks[m.first - 1].norm, ())
    if not word[:1].isupper() or any(r.attribute in lex.person_attrs for r in refs):
        return False  # "the Nolan Dark Knight" names the film
    return all(lex.items[i].title.lower().startswith("the ") for i in m.ids)


def _age(toks: list[Token], m: TitleMatch) -> bool:
    """A number and "year(s)" before "old(s)" is someone's age ("my 7 and 10 year olds"), not
    the film "10 Years"."""
    after = toks[m.last].norm if m.last < len(toks) else ""
    return after in ("old", "olds") and any(toks[i].norm.isdigit() for i in range(m.first, m.last))


def _described(lex: Lexicon, text: str, toks: list[Token], m: TitleMatch) -> bool:
    """Everyday words typed in lower case after "a", "an", "some" (and at most three lower-case
    words) describe a kind of film unless a matched title starts with the article: "based on a
    true story" (not "True Story"), "a fun swashbuckling pirate movie" (not "The Pirate Movie");
    "a quiet place" may still be "A Quiet Place"."""
    before = m.first - 1  # back over up to three lower-case words: "a fun swashbuckling …"
    while before >= max(0, m.first - 4) and toks[before].norm not in _INDEFINITE:
        word = text[toks[before].start : toks[before].end]
        if not (word.islower() or word.isdigit()) or toks[before].norm in STOPWORDS:
            return False  # "a 12 hour night shift" describes the shift too
        before -= 1
    if before < 0 or toks[before].norm not in _INDEFINITE:
        return False
    if any(lex.items[i].title.lower().startswith(("a ", "an ")) for i in m.ids):
        return False
    typed = text[toks[m.first].start : toks[m.last - 1].end]
    kind = typed.islower() and toks[m.last - 1].norm in ("movie", "movies", "film", "films")
    keywords = lex.keyword_words()  # "a 12 hour night shift": words the catalog's tags use
    tagged = typed.islower() and all(
        toks[i].norm in lex.common or toks[i].norm in keywords or toks[i].norm in STOPWORDS
        for i in range(m.first, m.last)
    )
    return kind or tagged  # "a scary movie": a kind, whatever words


def _qualifies(lex: Lexicon, text: str, toks: list[Token], m: TitleMatch) -> bool:
    """A title of everyday words typed in lower case (a capital only to start the sentence)
    right before a genre qualifies the genre: "Real life drama", "a true story thriller"."""
    if m.last - m.first < 2 or m.last >= len(toks):
        return False
    after = lex.values.get(toks[m.last].norm, ())
    return _common_lower(lex, text, toks, m, sentence_case=True) and any(
        r.attribute in ("genres", "genre") for r in after
    )


def _content(words: list[str], m: TitleMatch) -> int:
    return sum(words[i] not in ("the", "a", "an") for i in range(m.first, m.last))


def _loose(lex: Lexicon, text: str, toks: list[Token], m: TitleMatch) -> bool:
    """A fuzzy (not exact) match of lower-case everyday or keyword words: "the whole bunch" is
    no "The Hole", "haunted houses" no "The Haunted House"."""
    if m.score >= 100:
        return False
    span = text[toks[m.first].start : toks[m.last - 1].end]
    keywords = lex.keyword_words()
    return _common_lower(lex, text, toks, m) or (span.islower() and all(
        toks[i].norm in keywords or toks[i].norm in STOPWORDS
        or toks[i].norm.rstrip("s") in keywords for i in range(m.first, m.last)))  # fmt: skip


def _common_lower(
    lex: Lexicon, text: str, toks: list[Token], m: TitleMatch, *, sentence_case: bool = False
) -> bool:
    """The match is typed in lower case (``sentence_case``: a capital may start the sentence)
    and made only of the catalog's everyday words and stopwords."""
    span = text[toks[m.first].start : toks[m.last - 1].end]
    if sentence_case and _sentence_start(text, toks[m.first]):
        span = span[:1].lower() + span[1:]
    words = (toks[i].norm for i in range(m.first, m.last))
    return span.islower() and all(w in lex.common or w in STOPWORDS for w in words)


def _other_year(lex: Lexicon, m: TitleMatch, words: list[str]) -> bool:
    """A year after the title that no matched item has, by more than a year: "IT (2017)" is
    not the 1990 "It" the catalog holds."""
    if m.last >= len(words) or not _YEAR.match(words[m.last]):
        return False
    years = [_year_of(lex, i) for i in m.ids]
    return all(y.isdigit() and abs(int(y) - int(words[m.last])) > 1 for y in years)


WORD_RATIO = 70.0  # a misspelt word of a fuzzy title match must be this close to the alias's


def _aligned(window: str, alias: str) -> bool:
    """A fuzzy match may misspell long content words, never swap a function word, a short word
    or a number: "funny from" is not "Funny Farm", "the year" not "The Bear", "2 hours" not
    "127 Hours", and "mindless violence" is not "Miss Violence". A plural for a singular is a
    misspelling too ("a Guys in 10 Days")."""
    from rapidfuzz import fuzz

    return all(
        w == a
        or w.rstrip("s") == a.rstrip("s")
        or (
            w not in FUNCTION_WORDS
            and len(w) >= 5
            and not any(c.isdigit() for c in w)
            and fuzz.ratio(w, a) >= WORD_RATIO
        )
        for w, a in zip(window.split(), alias.split(), strict=False)
    )


def _by_year(lex: Lexicon, m: TitleMatch, words: list[str]) -> TitleMatch:
    """Keep only the items of the year that follows the title ("Dracula 1992"), if any match."""
    if not m.ambiguous or m.last >= len(words) or not _YEAR.match(words[m.last]):
        return m
    keep = tuple(i for i in m.ids if _year_of(lex, i) == words[m.last])
    return TitleMatch(m.first, m.last + 1, keep, m.score) if keep else m


_SEQUEL = re.compile(r"^(?::|\s+(?:\d+|ii|iii|iv|v|part|chapter)\b)")


# Words after a title that name its series ("the Terminator movies"): the first film stands for it.
SERIES = frozenset(("movies", "films", "series", "franchise", "trilogy", "saga"))


def names_series(words: list[str], m: TitleMatch) -> bool:
    """ "the Terminator movies", "the Jurassic Park films": the title names a series."""
    before = {words[m.first], words[m.first - 1] if m.first > 0 else ""}
    return m.last < len(words) and words[m.last] in SERIES and bool(before & SERIES_OPENERS)


SERIES_OPENERS = frozenset(("the", "all", "those", "these"))


_ROMAN = {"2": "ii", "3": "iii", "4": "iv", "5": "v", "6": "vi", "7": "vii", "8": "viii"}


def _numbered(lex: Lexicon, m: TitleMatch, words: list[str]) -> TitleMatch | None:
    """ "Rocky 3", "Bad Boys 2", "Nightmare on Elm Street 3": the title with a number after it
    is that sequel ("Rocky III", "Bad Boys II", "… 3: Dream Warriors") when the catalog has it."""
    if m.last >= len(words) or words[m.last] not in {*_ROMAN, *_ROMAN.values()}:
        return None
    number = words[m.last]
    forms = {number, _ROMAN.get(number, number)} | {k for k, v in _ROMAN.items() if v == number}
    bases = {_bare(lex.items[i].title) for i in m.ids}
    pattern = re.compile(
        r"^(?:" + "|".join(map(re.escape, bases)) + ") (?:" + "|".join(forms) + r")(?::.*)?$"
    )
    ids = tuple(i for i, it in lex.items.items() if pattern.match(_bare(it.title)))
    return TitleMatch(m.first, m.last + 1, ids, m.score) if len(ids) == 1 else None


def _by_person(lex: Lexicon, m: TitleMatch, text: str) -> TitleMatch:
    """An ambiguous title and a person the message names who is credited in one of its
    items: "Jim Carrey's How the Grinch Stole Christmas" is the 2000 film."""
    if not m.ambiguous:
        return m
    said = fold(text)
    keep = tuple(
        i for i in m.ids
        if any(fold(str(p)) in said for a in ("director", "cast")
               for p in _values(lex.items[i].attributes.get(a)))
    )  # fmt: skip
    return TitleMatch(m.first, m.last, keep, m.score) if len(keep) == 1 else m


def _first_of_series(lex: Lexicon, m: TitleMatch, words: list[str]) -> TitleMatch:
    """ "The first Avengers", "the Avengers movies": of the items with that title, the earliest
    that starts a series (shares a director or an actor with a sequel: "Avengers: Age of
    Ultron" makes it the 2012 film, not the 1998 one); the earliest of them when none has a
    sequel."""
    first = m.first > 0 and words[m.first - 1] in ("first", "original")
    if not m.ambiguous or not (first or names_series(words, m)):
        return m
    titles = {_bare(lex.items[i].title) for i in m.ids}
    sequels = [it for it in lex.items.values() if it.id not in m.ids and any(
        _bare(it.title).startswith(t) and _SEQUEL.match(_bare(it.title)[len(t):]) for t in titles
    )]  # fmt: skip

    def people(item_id: str) -> set[str]:
        attrs = lex.items[item_id].attributes
        return {str(v) for a in ("director", "cast") for v in _values(attrs.get(a))}

    starts = [i for i in m.ids if any(people(i) & people(s.id) for s in sequels)]
    pick = min(starts or m.ids, key=lambda i: _year_of(lex, i) or "9999")
    return TitleMatch(m.first, m.last, (pick,), m.score)


def _bare(title: str) -> str:
    return re.sub(r"^(?:the|a|an) ", "", fold(title))


def _values(value: object) -> tuple[object, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _by_popularity(lex: Lexicon, m: TitleMatch) -> TitleMatch:
    """Keep the one item that dwarfs the others of an ambiguous title: "Titanic" is the 1997
    film (164 ratings against 12), "Halloween" the 1978 one. Close calls stay ambiguous, but
    items of one title and year are one (a phone's carrier models: the best known stands for
    them)."""
    if not m.ambiguous:
        return m
    pop = sorted(((lex.items[i].popularity or 0.0, i) for i in m.ids), reverse=True)
    keys = {variant_key(lex.items[i]) for i in m.ids}
    if len(keys) == 1 and next(iter(keys))[1]:  # one phone sold as several models (a known year)
        return TitleMatch(m.first, m.last, (pop[0][1],), m.score)
    (top, best), (second, _) = pop[0], pop[1]
    if top >= DOMINANT_MIN and top >= DOMINANT * second:
        return TitleMatch(m.first, m.last, (best,), m.score)
    return m


__all__ = ["SERIES", "TitleMatch", "find_titles", "names_series"]
