"""The catalog's vocabulary, built once: attribute values, numeric attributes and fuzzy titles."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from convrec.catalog.schema import AttributeRoles, Catalog
from convrec.catalog.titles import split_alternates
from convrec.types import Item

# Which attributes hold people (their unique surnames become aliases: "Spielberg") and which
# hold codes or prose rather than words a user says: the catalog's roles ``person`` and
# ``unread`` (:class:`convrec.catalog.schema.AttributeRoles`).


def word_set(text: str) -> frozenset[str]:
    """The words of a whitespace-separated list (long word lists read better as text)."""
    return frozenset(text.split())


# Everyday words that are also surnames: they must be capitalised to name a person, whatever
# the catalog's descriptions say ("a drama after 1990" names no "Ten Years After").
EVERYDAY = word_set("""
after before over under about above below around young old little big king long short black
white brown green gray grey rich hill stone wood woods wolf fox bird bush price cash page wells
hunt bell hall ford lane knight cook march night love hope faith grace rose fields waters
""")
# How much more a directing credit counts than another role (see Lexicon.main_role).
DIRECTOR_WEIGHT = 1.5
# A surname used by this many titles is a common word first (see Lexicon._add_variants).
TITLE_WORD_USES = 3
# A bare surname names someone credited this often at least ("Spielberg"), or as often as the
# top 1% of the catalog's people in a small catalog; a bit part's surname is more likely a word
# or another person's name ("Marvel", "Director", "Leonardo").
SURNAME_CREDITS = 3
# A misspelt full name ("Leonardo Decaprio", "Seth Rogan"): the first name exact, the whole
# within this rapidfuzz ratio of someone credited at least twice.
NAME_RATIO = 85
NAME_CREDITS = 2
# Words before a surname that make it someone else's ("Mr. Rogers" is no Mimi Rogers).
HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "sir", "lady", "lord", "uncle", "aunt"})
# Single words never taken as a value or a one-word title on their own.
STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "not", "no", "it", "one", "me", "my", "i", "you", "all",
    "any", "more", "less", "new", "old", "other", "none", "unknown", "yes", "up", "her", "us",
    "go", "big", "home", "love", "is", "be", "do", "on", "in", "of", "to", "for", "with", "that",
    "this", "these", "those",
))  # fmt: skip
# Everyday words for catalog values; used only when the target value exists in the catalog.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "Sci-Fi": ("science fiction", "scifi", "sf", "ciencia ficcion", "sciencefiction"),
    "Romance": ("romantic", "romcom", "rom com", "love story", "romantica", "romantique"),
    "Animation": ("animated", "cartoon", "cartoons", "anime", "animacion", "zeichentrick"),
    "Comedy": ("funny", "comedic", "funnier", "comedia", "comedie", "komodie", "romcom"),
    "Horror": ("scary", "terror", "horreur", "miedo"),
    "Action": ("accion",),
    "Drama": ("dramas",),
    "Children": ("kids", "children's", "family"),
    "Documentary": ("docs", "doc"),
    "Thriller": ("suspense",),
    "War": ("war movie",),
    "iOS": ("iphone", "ios"),
    "United States": ("american", "usa", "america", "u.s."),
    "United Kingdom": ("british", "uk", "britain"),
    "tablet": ("tablets", "ipad"),
    "smartwatch": ("watch", "smart watch", "watches"),
}
# Words that name an attribute ("price doesn't matter", "what genre").
ATTRIBUTE_WORDS: dict[str, tuple[str, ...]] = {
    "price": ("price", "cost", "budget", "money"),
    "year": ("year", "era", "decade", "age"),
    "release_year": ("year", "release", "age"),
    "genres": ("genre", "genres", "kind"),
    "maker": ("brand", "maker", "manufacturer", "make"),
    "os": ("os", "operating system", "system"),
    "ram_gb": ("ram", "memory"),
    "storage_gb": ("storage", "space"),
    "screen_inches": ("screen", "display", "size"),
    "runtime_min": ("runtime", "length", "long"),
}
TYPO_VOCAB = 150  # attributes with at most this many value words accept one-typo matches
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_LOWER = re.compile(r"\b[a-z]{2,}\b")  # a lower-case word
_ARTICLE = re.compile(r"^(the|a|an|le|la|les|el|los|las|der|die|das) ")


def fold(text: str) -> str:
    """Lower case without accents or apostrophes: ``"Amélie's"`` → ``"amelies"``."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return text.replace("'", "").replace("’", "")


@dataclass(frozen=True)
class Token:
    """One word of a message: its folded form and character span in the original text."""

    norm: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    return [Token(fold(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def norm_phrase(text: str) -> str:
    return " ".join(t.norm for t in tokenize(text))


@dataclass(frozen=True)
class ValueRef:
    """A catalog attribute value (``multi`` for list attributes, ``kind`` its Python type)."""

    attribute: str
    value: str | bool
    multi: bool = False


@dataclass(frozen=True)
class Span:
    """Something found in a message: token range [first, last) and what it refers to."""

    first: int
    last: int
    refs: tuple[ValueRef, ...]


@dataclass
class Lexicon:
    """Values, numeric attributes and title aliases of one catalog (build with from_catalog)."""

    values: dict[str, tuple[ValueRef, ...]] = field(default_factory=dict)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # phrase → attributes
    numeric: dict[str, type] = field(default_factory=dict)  # attribute → int or float
    # n tokens → (alias, item id, penalty); a "Title:" prefix alias scores lower than a full title
    aliases: dict[int, list[tuple[str, str, float]]] = field(default_factory=dict)
    cased: set[str] = field(default_factory=set)  # keys that match only when capitalised
    surnames: set[str] = field(default_factory=set)  # one-word keys that are a bare surname
    # words at least COMMON_USES descriptions use in lower case ("together", "life", "real")
    common: frozenset[str] = frozenset()
    # first name → (folded full name, its refs) of people credited NAME_CREDITS times or more
    people: dict[str, list[tuple[str, tuple[ValueRef, ...]]]] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    # (attribute, value) → items with it, for people (who is mostly an actor, who a director)
    # and single values (is "LG" a maker or a carrier?)
    roles: dict[tuple[str, str], int] = field(default_factory=dict)
    attr_roles: AttributeRoles = field(default_factory=AttributeRoles)  # the catalog's roles
    max_len: int = 1
    # numeric attribute → its (25th, 75th, 90th) percentiles: what "small", "big", "old" and
    # "recent" mean in this catalog
    spread: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    families: frozenset[str] = frozenset()  # family words learned from titles ("xperia")
    _small: dict[str, tuple[ValueRef, ...]] | None = None  # typo targets, built on first use
    _kind_counts: Any = None  # convrec.dialogue.shift: how often kinds go together, on first use
    _keyword_words: frozenset[str] | None = None  # words of the items' keywords, on first use
    _topics: dict[str, str] | None = None  # see topic_phrases, on first use
    _keyword_items: dict[str, list[Item]] | None = None  # see keyword_items, on first use
    _keyword_phrases: frozenset[str] | None = None  # see keyword_phrases, on first use
    _closed: dict[str, list[tuple[float, str]]] | None = None  # see closed_titles, on first use
    _attribute_names: tuple[str, ...] | None = None

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Every attribute the catalog's items have (in first-seen order)."""
        if self._attribute_names is None:
            names = dict.fromkeys(a for it in self.items.values() for a in it.attributes)
            self._attribute_names = tuple(names)
        return self._attribute_names

    @property
    def person_attrs(self) -> tuple[str, ...]:
        """The attributes that hold people, in the catalog's declared order (director first)."""
        return self.attr_roles.person

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Lexicon:
        people, skip = catalog.roles.person, catalog.roles.unread | {"title"}
        refs: dict[str, set[ValueRef]] = defaultdict(set)
        numeric: dict[str, type] = {}
        distinct: dict[str, set[str]] = defaultdict(set)
        freq: dict[str, int] = defaultdict(int)  # how often each person appears
        roles: dict[tuple[str, str], int] = {}
        for it in catalog.items:
            if it.category:
                distinct["category"].add(it.category)
            if it.price is not None:
                numeric["price"] = float
            for name, value in it.attributes.items():
                if name in skip:
                    continue
                if isinstance(value, bool):
                    for word in (name.replace("_", " "), *ATTRIBUTE_WORDS.get(name, ())):
                        refs[norm_phrase(word)].add(ValueRef(name, True))
                elif isinstance(value, int | float):
                    numeric[name] = float if isinstance(value, float) else numeric.get(name, int)
                elif isinstance(value, tuple):
                    for v in value:
                        refs[norm_phrase(v)].add(ValueRef(name, v, multi=True))
                        freq[v] += name in people
                        if name in people:
                            roles[(name, v)] = roles.get((name, v), 0) + 1
                elif value:
                    refs[norm_phrase(value)].add(ValueRef(name, value))
                    roles[(name, value)] = roles.get((name, value), 0) + 1
        if len(distinct["category"]) > 1:
            for c in distinct["category"]:
                refs[norm_phrase(c)].add(ValueRef("category", c))
        quiet = skip | set(people) | catalog.roles.never_ask  # codes, carriers, long lists
        families = _families(catalog.items, quiet, refs)
        for word, family in families.items():
            refs[word].update(family)  # "iPhone" → maker Apple (and a phone), "Xperia" → Sony
        lex = cls(numeric=numeric, items={it.id: it for it in catalog.items}, roles=roles,
                  attr_roles=catalog.roles, families=frozenset(families))  # fmt: skip
        lex._add_variants(refs, freq, _everyday_words(catalog.items), _title_words(catalog.items))
        lex.values = {k: tuple(sorted(v, key=repr)) for k, v in refs.items() if _usable(k)}
        known = {r.attribute for rs in lex.values.values() for r in rs} | set(numeric)
        names: dict[str, list[str]] = defaultdict(list)
        for attr in sorted(known):
            for word in (attr.replace("_", " "), *ATTRIBUTE_WORDS.get(attr, ())):
                names[norm_phrase(word)].append(attr)
        lex.names = {k: tuple(v) for k, v in names.items()}
        lex.max_len = max((len(k.split()) for k in (*lex.values, *lex.names)), default=1)
        lex._index_titles(catalog.items, refs)
        lex.common = _common_words(catalog.items)
        lex.spread = _spread(catalog.items, numeric)
        return lex

    def _add_variants(
        self,
        refs: dict[str, set[ValueRef]],
        freq: dict[str, int],
        everyday: frozenset[str],
        title_words: Counter[str],
    ) -> None:
        """Plurals, synonyms, spellings of people's names ("Di Caprio" and "DiCaprio", "De Niro"
        and "DeNiro") and their surnames (the clearly most frequent bearer wins). A surname
        that is also an everyday word of the catalog's descriptions ("Stone", "Wood") must be
        capitalised to count; others ("spielberg") match in any case. A surname that is a word
        of several titles ("a Christmas movie", "a space adventure") names nobody unless its
        bearer is credited far more often than the titles use it."""
        by_value: dict[str, set[ValueRef]] = defaultdict(set)
        for rs in refs.values():
            for r in rs:
                by_value[str(r.value)].add(r)
        extra: dict[str, set[ValueRef]] = defaultdict(set)
        for key, rs in list(refs.items()):
            if " " not in key and not any(r.attribute in self.person_attrs for r in rs):
                plural = key[:-1] + "ies" if key.endswith("y") else key + "s"
                extra[plural] |= rs
        for value, synonyms in SYNONYMS.items():
            for w in synonyms:
                extra[norm_phrase(w)] |= by_value.get(value, set())
        credits = sorted(v for v in freq.values() if v > 0)
        top1 = credits[int(0.99 * (len(credits) - 1))] if credits else 1
        need_surname, need_name = min(SURNAME_CREDITS, top1), min(NAME_CREDITS, top1)
        surnames: dict[str, set[ValueRef]] = defaultdict(set)
        for rs in list(refs.values()):
            for r in rs:
                if r.attribute not in self.person_attrs:
                    continue
                for spelling in _spellings(str(r.value)):
                    parts = spelling.split()
                    if spelling not in refs:
                        extra[spelling].add(r)
                    if len(parts) > 1 and len("".join(parts[1:])) >= 4:
                        surnames[" ".join(parts[1:])].add(r)
                        if len(parts) > 2:  # "Guillermo del Toro" → "del toro" and "toro"
                            surnames[parts[-1]].add(r)
        for name, rs in surnames.items():
            ranked = sorted({str(r.value) for r in rs}, key=lambda v: -freq[v])
            top = ranked[0]
            used = title_words[name] if " " not in name else 0
            if used >= TITLE_WORD_USES and freq[top] < 3 * used:
                continue
            if freq[top] < need_surname:
                continue
            if name not in refs and (len(ranked) == 1 or freq[top] >= 2 * freq[ranked[1]]):
                extra[name] |= {r for r in rs if r.value == top}
                if " " not in name:
                    self.surnames.add(name)
                if name in everyday or len(name) < 5:
                    self.cased.add(name)
        people: dict[str, dict[str, set[ValueRef]]] = defaultdict(lambda: defaultdict(set))
        for rs in list(refs.values()):
            for r in rs:
                if r.attribute in self.person_attrs and freq[str(r.value)] >= need_name:
                    parts = norm_phrase(str(r.value)).split()
                    if len(parts) == 2:
                        people[parts[0]][" ".join(parts)].add(r)
        self.people = {
            first: [(full, tuple(sorted(rs, key=repr))) for full, rs in sorted(names.items())]
            for first, names in people.items()
        }
        for key, rs in extra.items():
            if rs and key not in refs:
                refs[key] = set(rs)

    def _index_titles(self, items: tuple[Item, ...], refs: dict[str, set[ValueRef]]) -> None:
        """Aliases per item: title, alternates, without article, without a leading maker."""
        makers = {
            norm_phrase(str(r.value))
            for rs in refs.values()
            for r in rs
            if r.attribute in ("maker", "brand")
        }
        aliases: dict[int, set[tuple[str, str, float]]] = defaultdict(set)
        for it in items:
            main, alts = split_alternates(it.title)
            prefix = main.split(":")[0] if ":" in main else None
            for title in (main, *alts, *([prefix] if prefix else [])):
                penalty = 5.0 if title is prefix else 0.0
                a = norm_phrase(title)
                forms = {a, _ARTICLE.sub("", a)}
                forms |= {re.sub(r"\b(?:versus|vs)\b", w, f) for f in set(forms)
                          for w in ("vs", "versus")}  # fmt: skip
                forms |= {_ORDINALS.sub(lambda o: _ORDINAL_OF[o.group(0)], f) for f in forms}
                forms |= {a[len(m) + 1 :] for m in makers if a.startswith(m + " ")}
                for f in forms:
                    words = f.split()  # one word: guarded by capitalisation at match time
                    if title is not main and all(w in STOPWORDS for w in words):
                        continue  # "Evangelion: 3.0 You Can Redo (Not)": "NOT" is no title
                    if len(words) == 1 or any(w not in STOPWORDS for w in words):
                        aliases[len(words)].add((f, it.id, penalty))
        self.aliases = {n: sorted(v) for n, v in aliases.items()}

    def find_values(self, toks: list[Token], text: str = "") -> list[Span]:
        """Attribute values in ``toks`` (of ``text``): longest phrase first, never overlapping;
        a word with one typo matches a value of a small vocabulary (see :meth:`typo`)."""
        out: list[Span] = []
        i = 0
        while i < len(toks):
            for n in range(min(self.max_len, len(toks) - i), 0, -1):
                key = " ".join(t.norm for t in toks[i : i + n])
                if key not in self.values and _possessive(text, toks[i + n - 1]):
                    key = key[:-1]  # "Tarantino's films", "Wes Anderson’s style"
                if key in self.cased and not (text and text[toks[i].start].isupper()):
                    continue
                if n == 1:
                    name = self._misspelt_name(toks, i, text)
                    if name:
                        out.append(Span(i, i + 2, name))
                        i += 2
                        break
                    if key in self.surnames and self._someone_else(toks, i, text):
                        continue
                if key in self.values:
                    out.append(Span(i, i + n, self.values[key]))
                    i += n
                    break
            else:
                refs = self.typo(toks[i].norm)
                if refs:
                    out.append(Span(i, i + 1, refs))
                i += 1
        return out

    def _misspelt_name(self, toks: list[Token], i: int, text: str) -> tuple[ValueRef, ...]:
        """The person whose two-word name tokens ``i`` and ``i + 1`` misspell, both words
        capitalised in ``text`` ("Leonardo Decaprio", "Seth Rogan"), or in lower case when the
        first name is no everyday word ("meryl streap"); () when none is close."""
        if not text or i + 1 >= len(toks) or toks[i].norm not in self.people:
            return ()
        capitals = text[toks[i].start].isupper() and text[toks[i + 1].start].isupper()
        rare = toks[i].norm not in self.common and toks[i].norm not in STOPWORDS
        if not capitals and not rare:
            return ()
        from rapidfuzz import fuzz

        said = f"{toks[i].norm} {toks[i + 1].norm}"
        best = max(self.people[toks[i].norm], key=lambda p: fuzz.ratio(said, p[0]))
        return best[1] if fuzz.ratio(said, best[0]) >= NAME_RATIO else ()

    def _someone_else(self, toks: list[Token], i: int, text: str) -> bool:
        """A bare surname at token ``i`` that names someone the catalog does not know: a first
        name before another capitalised word ("Seth Rogan", "Leonardo Decaprio"), a surname
        after an honorific ("Mr. Rogers") or after another first name ("an Agatha Christie
        mystery" is no Julie Christie: her full name would have matched first)."""
        if i > 0 and toks[i - 1].norm in HONORIFICS:
            return True
        if not text:
            return False
        if i > 0 and toks[i - 1].norm not in STOPWORDS:
            before = text[toks[i - 1].start : toks[i - 1].end]
            opening = not text[: toks[i - 1].start].strip() or re.search(
                r"[.!?:;\"(]\s*$", text[: toks[i - 1].start]
            )
            if before[:1].isupper() and (not opening or toks[i - 1].norm in self.people):
                return True
        if i + 1 >= len(toks):
            return False
        nxt = text[toks[i + 1].start : toks[i + 1].end]
        return nxt[:1].isupper() and nxt != "I" and toks[i + 1].norm not in STOPWORDS

    def keyword_items(self) -> dict[str, list[Item]]:
        """Each keyword of the items, folded → the items that hold it; read once, for
        :meth:`keyword_words`, :meth:`keyword_phrases` and :meth:`topic_phrases`."""
        if self._keyword_items is None:
            held: dict[str, list[Item]] = defaultdict(list)
            for item in self.items.values():
                value = item.attributes.get("keywords")
                said = value if isinstance(value, tuple | list) else ()
                for k in dict.fromkeys(norm_phrase(str(k)) for k in said):
                    if k:
                        held[k].append(item)
            self._keyword_items = dict(held)
        return self._keyword_items

    def keyword_words(self) -> frozenset[str]:
        """Every word of the items' keywords ("ghost", "time", "travel"), folded."""
        if self._keyword_words is None:
            self._keyword_words = frozenset(w for k in self.keyword_items() for w in k.split())
        return self._keyword_words

    def closed_titles(self) -> dict[str, list[tuple[float, str]]]:
        """Two-word title aliases written as one word ("oldboy" for "Old Boy"), at least six
        letters → (score, item id) as a one-word alias scores."""
        if self._closed is None:
            closed: dict[str, list[tuple[float, str]]] = defaultdict(list)
            for alias, item_id, penalty in self.aliases.get(2, ()):
                key = alias.replace(" ", "")
                if len(key) >= 6 and key not in self.values:
                    closed[key].append((100.0 - penalty, item_id))
            self._closed = dict(closed)
        return self._closed

    def keyword_phrases(self) -> frozenset[str]:
        """The items' keywords (folded) that at least two items hold: "gore", "american
        football"."""
        if self._keyword_phrases is None:
            held = self.keyword_items()
            self._keyword_phrases = frozenset(k for k, items in held.items() if len(items) >= 2)
        return self._keyword_phrases

    def topic_phrases(self) -> dict[str, str]:
        """Keywords of several words holding a genre word whose items mostly lack that genre,
        folded → the genre word: "cold war" (spy films, not war films), "war on drugs", "gang
        war". Such a phrase in a message names the topic, not the genre."""
        if self._topics is None:
            genres = {k: str(r.value) for k, rs in self.values.items() for r in rs
                      if r.attribute in ("genres", "genre") and " " not in k}  # fmt: skip
            topics: dict[str, str] = {}
            for phrase, items in self.keyword_items().items():
                word = next((w for w in phrase.split() if w in genres), None)
                if " " not in phrase or word is None:
                    continue
                share = sum(_holds(it, genres[word]) for it in items) / len(items)
                if len(items) >= TOPIC_MIN_ITEMS and share < TOPIC_GENRE_SHARE:
                    topics[phrase] = word
            self._topics = topics
        return self._topics

    def main_role(self, refs: tuple[ValueRef, ...]) -> tuple[ValueRef, ...]:
        """One person named in several roles ("Tom Hanks": cast, director, writer) → the role
        they hold most often, directing counting half again (a writer-director is named for
        the films they directed: "tarantino movies"; ties: director, cast, writer…); one word
        that is the single value of several attributes ("LG": maker of 400 phones, carrier
        of 3) → the attribute most items hold it in, a value the catalog states before one derived
        from photos. Other refs are kept as they are."""
        refs = self._main_attribute(refs)
        people = [r for r in refs if r.attribute in self.person_attrs]
        if len({str(r.value) for r in people}) != 1 or len(people) < 2:
            return refs
        best = max(
            people,
            key=lambda r: (
                self.roles.get((r.attribute, str(r.value)), 0)
                * (DIRECTOR_WEIGHT if r.attribute == self.person_attrs[0] else 1.0),
                -self.person_attrs.index(r.attribute),
            ),
        )
        return tuple(r for r in refs if r.attribute not in self.person_attrs or r is best)

    def _main_attribute(self, refs: tuple[ValueRef, ...]) -> tuple[ValueRef, ...]:
        single = [r for r in refs if not r.multi and not isinstance(r.value, bool)]
        if len(single) < 2 or len({str(r.value) for r in single}) != 1:
            return refs
        # the catalog's own word beats what convrec read from a photo ("tablet": the category)
        best = max(single, key=lambda r: (r.attribute not in self.attr_roles.derived,
                                          self.roles.get((r.attribute, str(r.value)), 0),
                                          r.attribute))  # fmt: skip
        return tuple(r for r in refs if r not in single or r is best)

    def typo(self, word: str) -> tuple[ValueRef, ...]:
        """Values of small-vocabulary attributes (genres, maker, os, category) within one typo
        of ``word``: at least 5 letters, same first letter, rapidfuzz ratio ≥ 80, and never
        an everyday word the lexicon or the stopword list knows."""
        if len(word) < 5 or word in STOPWORDS or word in self.values or not word.isalpha():
            return ()
        if self._small is None:
            vocab: dict[str, set[str]] = defaultdict(set)
            for k, rs in self.values.items():
                for r in rs:
                    vocab[r.attribute].add(k)
            small = {a for a, ks in vocab.items() if len(ks) <= TYPO_VOCAB}
            self._small = {
                k: rs
                for k, rs in self.values.items()
                if " " not in k
                and len(k) >= 5
                and k not in self.cased
                and k not in self.families  # a family word is no typo target ("first" ≠ "fires")
                and k[:-1] not in self.families
                and all(r.attribute in small for r in rs)
            }
        from rapidfuzz import fuzz, process

        best = process.extractOne(word, list(self._small), scorer=fuzz.ratio, score_cutoff=80)
        if best is None or best[0][0] != word[0]:
            return ()
        return self._small[best[0]]

    def find_names(self, toks: list[Token]) -> list[tuple[int, tuple[str, ...]]]:
        """(token index, attributes) for each word that names an attribute ("price", "genre")."""
        return [(i, self.names[t.norm]) for i, t in enumerate(toks) if t.norm in self.names]


TOPIC_MIN_ITEMS = 3  # items a keyword needs to count as a topic phrase
TOPIC_GENRE_SHARE = 0.5  # a topic phrase's items hold the genre it names less often than this


def _holds(item: Item, genre: str) -> bool:
    value = item.attributes.get("genres", item.attributes.get("genre"))
    values = value if isinstance(value, tuple | list) else (value,)
    return any(str(v).lower() == genre.lower() for v in values)


def _possessive(text: str, tok: Token) -> bool:
    """The token ends in a possessive "'s" in ``text`` ("Nolan's", "Nolan’s")."""
    return bool(text) and text[tok.end - 2 : tok.end - 1] in ("'", "’") and tok.norm[-1:] == "s"


def _spellings(name: str) -> set[str]:
    """Folded spellings of a person's name: as written, with a camel-case surname split
    ("DiCaprio" → "di caprio") and with a particle joined ("De Niro" → "deniro")."""
    split = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    out = {norm_phrase(name), norm_phrase(split)}
    parts = norm_phrase(split).split()
    for k in range(1, len(parts) - 1):
        if len(parts[k]) <= 3:  # di, de, van, von, del, la
            out.add(" ".join([*parts[:k], parts[k] + parts[k + 1], *parts[k + 2 :]]))
    return {s for s in out if s}


def _spread(
    items: tuple[Item, ...], numeric: dict[str, type]
) -> dict[str, tuple[float, float, float, float]]:
    """The 10th, 25th, 75th and 90th percentiles of each numeric attribute (10 values at
    least)."""
    import numpy as np

    out: dict[str, tuple[float, float, float, float]] = {}
    for name in numeric:
        raw = (it.price if name == "price" else it.attributes.get(name) for it in items)
        vals = [float(v) for v in raw if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(vals) >= 10:
            q10, q25, q75, q90 = (float(q) for q in np.percentile(vals, [10, 25, 75, 90]))
            out[name] = (q10, q25, q75, q90)
    return out


FAMILY_MIN = 3  # titles that must share a word for it to name a family
# Words of product titles that say what an item is, never whose family it is.
GENERIC_TITLE_WORDS = frozenset({"phone", "phones", "smartphone", "tablet", "watch", "movie",
                                 "edition", "global", "series", "version", "model",
                                 "dual"})  # fmt: skip
FAMILY_SHARE = 0.9  # of them that hold the value the family word then stands for
FAMILY_SPREAD = 4  # the value may be held by at most this many times the family's items


def _families(
    items: tuple[Item, ...], skip: Collection[str], refs: Mapping[str, set[ValueRef]]
) -> dict[str, tuple[ValueRef, ...]]:
    """Product families learned from the titles: a word at least :data:`FAMILY_MIN` titles share
    ("iPhone", "Galaxy", "Xperia", "AQUOS") whose items nearly all hold one value of a
    single-valued attribute that few other items hold ("maker: Apple") stands for that value,
    and for their category when they share one the value's other items do not ("iPhone": an
    Apple phone, not an iPad). The most specific such value wins; words that are values
    already, numbers and short words are no family."""
    by_word: dict[str, set[str]] = defaultdict(set)
    whole = {norm_phrase(it.title) for it in items}  # a word that is a title names that item
    kinds = {norm_phrase(it.category) for it in items if it.category}  # "phone" is no family
    whole |= kinds | {k + "s" for k in kinds} | GENERIC_TITLE_WORDS
    for it in items:
        for tok in tokenize(it.title):
            w = tok.norm
            if (
                len(w) >= 5
                and w.isalpha()
                and w not in STOPWORDS
                and w not in refs
                and w not in whole
            ):
                by_word[w].add(it.id)
    holders: Counter[tuple[str, str]] = Counter(
        (a, v) for it in items for a, v in it.attributes.items()
        if isinstance(v, str) and v and a not in skip
    )  # fmt: skip
    by_id = {it.id: it for it in items}
    out: dict[str, tuple[ValueRef, ...]] = {}
    categories = {it.category for it in items if it.category}
    for word, ids in by_word.items():
        titles = {by_id[i].title for i in ids}
        if len(titles) < FAMILY_MIN:
            continue
        held = Counter((a, v) for i in ids for a, v in by_id[i].attributes.items()
                       if isinstance(v, str) and (a, v) in holders)  # fmt: skip
        most = FAMILY_SPREAD * len(ids)
        fits = [(holders[k], k) for k, n in held.items()
                if n >= FAMILY_SHARE * len(ids) and holders[k] <= most]  # fmt: skip
        if not fits:
            continue
        _, (attr, value) = min(fits)
        family = [ValueRef(attr, value)]
        per_kind = Counter(by_id[i].category for i in ids)
        kind, n = per_kind.most_common(1)[0]
        others = {it.category for it in items if it.attributes.get(attr) == value}
        if len(categories) > 1 and kind and n >= FAMILY_SHARE * len(ids) and others != {kind}:
            family.append(ValueRef("category", kind))
        out[word] = tuple(family)
    return out


def _title_words(items: tuple[Item, ...]) -> Counter[str]:
    """How many titles use each word."""
    return Counter(w for it in items for w in set(norm_phrase(it.title).split()))


def _everyday_words(items: tuple[Item, ...]) -> frozenset[str]:
    """Words the catalog's descriptions use in lower case: everyday words, not only names."""
    out: set[str] = set()
    for it in items:
        out.update(m.group(0) for m in _LOWER.finditer(it.description))
    return frozenset(fold(w) for w in out) | EVERYDAY | STOPWORDS


# "The Fifth Element" is also typed "5th element", "The Third Man" "3rd man".
_ORDINAL_OF = {
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th",
}  # fmt: skip
_ORDINALS = re.compile(r"\b(?:" + "|".join(_ORDINAL_OF) + r")\b")
COMMON_USES = 20  # descriptions using a word in lower case that make it an everyday word


def _common_words(items: tuple[Item, ...]) -> frozenset[str]:
    """Words that at least COMMON_USES descriptions use in lower case."""
    uses = Counter(w for it in items for w in {fold(m.group(0)) for m in
                                               _LOWER.finditer(it.description)})  # fmt: skip
    return frozenset(w for w, n in uses.items() if n >= COMMON_USES)


def _usable(key: str) -> bool:
    return bool(key) and not (len(key.split()) == 1 and (key in STOPWORDS or len(key) < 2))


__all__ = ["Lexicon", "Span", "Token", "ValueRef", "fold", "norm_phrase", "tokenize"]
