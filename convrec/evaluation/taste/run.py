"""``convrec eval --suite taste``: realistic requests, judged by what the listed items are.

The panel (``eval/taste/panel.yaml``) holds first requests and short dialogues as people type
them, each with a *property* every top-5 item should have, judged only from the item's own
catalog fields (genres, year, cast, maker …), never from convrec's parser or lexicon. Per system
and entry, on the list after the entry's last user turn:

- ``precision@5``: share of the 5 slots holding an item with the property. An empty slot, a
  turn that lists nothing (the system asked instead) and, for ``drop_first`` entries ("not the
  first one"), the previous list's first item all count as misses;
- ``title_echo_rate``: share of the listed items whose title holds a content word of the
  request (a stopword aside) while lacking the property: keyword search on titles;
- ``well_known_rate`` (movies only): share of the listed items with at least
  :data:`WELL_KNOWN` ratings (attribute ``n_ratings``).

Our systems play each entry in a fresh session with explanations off (only the lists are
judged); ``asked`` counts the entries whose last turn got a question instead of a list. The
baselines rank the same user turns, each earlier one followed by a neutral assistant line.
Each system's runs are journalled (the lists, not the scores), so a rerun resumes and an edited
property is re-scored without running anything again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from convrec.errors import InputError
from convrec.evaluation.suite import SYSTEMS, EvalContext, SuiteResult
from convrec.resources import SOURCE_ROOT

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.engine import ConvRec
    from convrec.evaluation.baselines import Ranker
    from convrec.types import Item

log = logging.getLogger(__name__)

SUITE = "taste"
PANEL = SOURCE_ROOT / "eval" / "taste" / "panel.yaml"
CATALOGS = ("movies", "phones")
RIVALS = ("popularity", "bm25", "dense")
K = 5
WELL_KNOWN = 10  # ratings an item needs to count as well known (movies)
QUICK_PER_CATALOG = 3  # entries per catalog in quick mode (those tagged `quick: true`)
NEUTRAL = "Here are some suggestions."  # what a baseline "says" between turns
WORST_SHOWN = 10  # worst entries listed, with their titles, per system of ours
# What a value may be compared with, per operator (see the panel's header).
OPS = ("any", "all", "none", "eq", "gte", "lte", "no_word")
ENTRY_KEYS = {"id", "turns", "property", "quick", "drop_first", "like_previous", "note"}
_WORD = re.compile(r"[^\W_]+")
# Words that say nothing about what is wanted: a title holding one of them is no echo.
_STOP = """
a about after again all also am an and any are as at be because been before being best but
by can could did do does doing for from get give good great had has have having he her him
his how i if in into is it its just know last let like liked likes looking love loved lot
maybe me mine more most much my need new next no not now of off on one ones or other our out
over please prefer really recommend second see should show so some something somthing than
that the their them then there these they thing think this those too under up very want
wanted was watch watched way we well were what when which while who why will with without
would yes yet you your movie movies film films flick phone phones mobile cellphone kind sort
maybe lol ok okay first third another else different same still only even enjoyed enjoy"""
STOPWORDS = frozenset(_STOP.split())


@dataclass(frozen=True)
class Condition:
    """``field`` (an attribute, or ``title``/``category``) ``op`` ``value``."""

    field: str
    op: str
    value: Any

    def holds(self, item: Item) -> bool:
        raw = _field(item, self.field)
        if self.op in ("gte", "lte"):
            if not isinstance(raw, int | float) or isinstance(raw, bool):
                return False  # a missing or non-numeric value meets no bound
            return raw >= self.value if self.op == "gte" else raw <= self.value
        values = {
            _norm(v) for v in (raw if isinstance(raw, tuple | list) else (raw,)) if v is not None
        }
        wanted = {_norm(v) for v in (self.value if isinstance(self.value, list) else [self.value])}
        if self.op in ("any", "eq"):
            return bool(values & wanted)
        if self.op == "all":
            return wanted <= values
        if self.op == "none":
            return not values & wanted
        words = {w for v in values for w in words_of(v)}  # no_word
        return not words & wanted


@dataclass(frozen=True)
class Property:
    """Conditions that must all hold."""

    conditions: tuple[Condition, ...]

    def holds(self, item: Item) -> bool:
        return all(c.holds(item) for c in self.conditions)


@dataclass(frozen=True)
class Entry:
    """One request (a first message or a short dialogue) and the property its list must have.

    ``like_previous``: the rank (1-based) of an item of the previous list that every item
    must share a value with, on each of ``like_fields`` ("more like the second")."""

    id: str
    catalog: str
    turns: tuple[str, ...]
    prop: Property
    quick: bool = False
    drop_first: bool = False
    like_previous: int = 0
    like_fields: tuple[str, ...] = ()
    note: str = ""

    @property
    def digest(self) -> str:
        """A hash of what the systems see (the turns): a changed property needs no rerun."""
        return hashlib.sha256(json.dumps([self.catalog, self.turns]).encode()).hexdigest()[:10]

    @property
    def key(self) -> str:
        return f"{self.catalog}/{self.id}@{self.digest}"


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """The words of a request that say what is wanted: 3+ characters, not a stopword."""
    return {w for w in words_of(text) if len(w) >= 3 and w not in STOPWORDS}


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _field(item: Item, name: str) -> Any:
    if name == "title":
        return item.title
    if name == "category":
        return item.category
    return item.attributes.get(name)


# -- the panel ---------------------------------------------------------------------------------


def parse_property(data: Any, where: str) -> Property:
    """``{field: {op: value, ...}, ...}`` → Property, or an InputError naming the entry."""
    if not isinstance(data, dict) or not data:
        raise InputError(f"{where}: `property` must be a non-empty mapping of field → operators.")
    out = []
    for name, ops in data.items():
        if not isinstance(ops, dict) or not ops:
            raise InputError(f"{where}: property {name!r} must map operators to values.")
        for op, value in ops.items():
            if op not in OPS:
                raise InputError(f"{where}: unknown operator {op!r}. Fix: use one of {OPS}.")
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if op in ("gte", "lte") and not numeric:
                raise InputError(f"{where}: {name}.{op} needs a number, got {value!r}.")
            if op in ("any", "all", "none", "no_word") and not (
                isinstance(value, list) and value and all(isinstance(v, str) for v in value)
            ):
                raise InputError(f"{where}: {name}.{op} needs a non-empty list of strings.")
            if op == "eq" and not isinstance(value, str | int | float):
                raise InputError(f"{where}: {name}.eq needs one value, got {value!r}.")
            out.append(Condition(str(name), op, value))
    return Property(tuple(out))


def parse_entry(data: Any, catalog: str) -> Entry:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InputError(f"{catalog}: every entry needs an `id` (got {data!r}).")
    where = f"{catalog}/{data['id']}"
    unknown = set(data) - ENTRY_KEYS
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)}. Fix: use {sorted(ENTRY_KEYS)}.")
    turns = data.get("turns")
    if not (isinstance(turns, list) and 1 <= len(turns) <= 3 and all(
        isinstance(t, str) and t.strip() for t in turns
    )):  # fmt: skip
        raise InputError(f"{where}: `turns` must be a list of 1 to 3 user messages.")
    like = data.get("like_previous") or {}
    if like and not (
        isinstance(like, dict)
        and set(like) == {"rank", "share"}
        and isinstance(like["rank"], int)
        and 1 <= like["rank"] <= K
        and isinstance(like["share"], list)
        and like["share"]
    ):
        raise InputError(f"{where}: `like_previous` must be {{rank: 1..{K}, share: [fields]}}.")
    if (like or data.get("drop_first")) and len(turns) < 2:
        raise InputError(f"{where}: `drop_first` and `like_previous` need an earlier turn.")
    return Entry(
        id=data["id"],
        catalog=catalog,
        turns=tuple(t.strip() for t in turns),
        prop=parse_property(data.get("property"), where),
        quick=bool(data.get("quick", False)),
        drop_first=bool(data.get("drop_first", False)),
        like_previous=int(like["rank"]) if like else 0,
        like_fields=tuple(str(f) for f in like["share"]) if like else (),
        note=str(data.get("note", "")),
    )


def load_panel(path: Path = PANEL) -> list[Entry]:
    """Every entry of the panel file (top-level keys: catalog names → lists of entries)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not set(data) <= set(CATALOGS):
        raise InputError(f"{path}: top-level keys must be catalog names among {CATALOGS}.")
    entries = [parse_entry(e, str(c)) for c, es in data.items() for e in (es or [])]
    ids = [e.id for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InputError(f"{path}: duplicate entry ids {dupes}.")
    return entries


def quick_subset(entries: Sequence[Entry], per_catalog: int = QUICK_PER_CATALOG) -> list[Entry]:
    """The entries tagged ``quick: true``, at most ``per_catalog`` per catalog, in order."""
    taken: dict[str, int] = {}
    out = []
    for e in entries:
        if e.quick and taken.get(e.catalog, 0) < per_catalog:
            taken[e.catalog] = taken.get(e.catalog, 0) + 1
            out.append(e)
    return out


# -- playing an entry --------------------------------------------------------------------------


def play_system(rec: ConvRec, entry: Entry, name: str) -> dict[str, Any]:
    """The entry in a fresh session of ``rec``: each turn's action and listed ids."""
    sid = f"{SUITE}-{name}-{entry.catalog}-{entry.id}"
    rec.forget_profile(sid)  # a rerun of a killed entry starts from nothing
    rec.reset(sid)
    actions, lists = [], []
    for text in entry.turns:
        reply = rec.chat(text, sid, explain=False)
        actions.append(reply.action)
        listed = reply.action == "recommend"
        lists.append([r.item_id for r in reply.recommendations][:K] if listed else [])
    return {"actions": actions, "lists": lists}


def play_ranker(ranker: Ranker, entry: Entry) -> dict[str, Any]:
    """The entry through a baseline: a ranking after every user turn."""
    from convrec.evaluation.baselines import Context
    from convrec.types import Message

    messages: list[Message] = []
    lists = []
    for text in entry.turns:
        messages.append(Message("user", text))
        lists.append(ranker.rank(Context(tuple(messages)), K)[:K])
        messages.append(Message("assistant", NEUTRAL))
    return {"actions": ["recommend"] * len(lists), "lists": lists}


# -- scoring -----------------------------------------------------------------------------------


def score(entry: Entry, run: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    """One entry's row: the final list, which items have the property, which echo the request."""
    lists: list[list[str]] = run["lists"]
    final = lists[-1][:K]
    previous = lists[-2] if len(lists) > 1 else []
    dropped = previous[0] if entry.drop_first and previous else None
    ref = None
    if entry.like_previous:
        ref = (
            catalog.get(previous[entry.like_previous - 1])
            if len(previous) >= entry.like_previous
            else None
        )
    words = content_words(" ".join(entry.turns))
    items = [catalog.get(i) for i in final]
    hits, echoes, known = [], [], []
    for item in items:
        if item is None:  # not a catalog item: a miss, never an echo
            hits.append(False)
            echoes.append(False)
            known.append(False)
            continue
        has = entry.prop.holds(item)
        hit = has and item.id != dropped
        if entry.like_previous:
            hit = hit and ref is not None and all(_shares(item, ref, f) for f in entry.like_fields)
        hits.append(hit)
        echoes.append(not has and bool(words & set(words_of(item.title))))
        n = item.attributes.get("n_ratings")
        known.append(isinstance(n, int | float) and n >= WELL_KNOWN)
    return {
        "id": entry.id,
        "catalog": entry.catalog,
        "turns": list(entry.turns),
        "action": run["actions"][-1],
        "error": run.get("error", ""),
        "ids": final,
        "titles": [
            it.title if it else f"<{i} not in catalog>" for i, it in zip(final, items, strict=True)
        ],
        "hits": hits,
        "echoes": echoes,
        "known": known,
        "dropped": catalog[dropped].title if dropped is not None and dropped in catalog else None,
        "p@5": sum(hits) / K,
    }


def _shares(item: Item, ref: Item, name: str) -> bool:
    def values(it: Item) -> set[Any]:
        raw = _field(it, name)
        return {
            _norm(v) for v in (raw if isinstance(raw, tuple | list) else (raw,)) if v is not None
        }

    return bool(values(item) & values(ref))


def metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """A system's numbers over some rows (see the module doc)."""
    listed = [r for r in rows if r["ids"]]
    items = sum(len(r["ids"]) for r in listed)
    movies = [r for r in listed if r["catalog"] == "movies"]
    movie_items = sum(len(r["ids"]) for r in movies)
    out = {
        "precision@5": sum(r["p@5"] for r in rows) / len(rows) if rows else 0.0,
        "title_echo_rate": sum(sum(r["echoes"]) for r in listed) / items if items else 0.0,
        "well_known_rate": (
            sum(sum(r["known"]) for r in movies) / movie_items if movie_items else 0.0
        ),
        "entries": float(len(rows)),
        "lists": float(len(listed)),
        "asked": float(sum(r["action"] == "ask" for r in rows)),
        "errors": float(sum(bool(r["error"]) for r in rows)),
    }
    return out


# -- the suite ---------------------------------------------------------------------------------


def run(
    ctx: EvalContext,
    systems: Sequence[str] | None = None,
    rivals: Sequence[str] = RIVALS,
    panel: Path = PANEL,
) -> SuiteResult:
    """Every panel entry (the quick subset when ``ctx.quick``) on the built catalogs, through
    each of our ``systems`` and the ``rivals`` baselines."""
    from convrec.catalog.layout import built_catalogs, open_catalog
    from convrec.evaluation.baselines import make_baselines

    built = built_catalogs(CATALOGS, ctx.settings)
    if not built:
        raise InputError(
            f"None of the catalogs {list(CATALOGS)} is built. Fix: run `convrec catalog build "
            "movies` and `convrec index movies` first."
        )
    entries = [e for e in load_panel(panel) if e.catalog in built]
    if ctx.quick:
        entries = quick_subset(entries)
    skipped = [c for c in CATALOGS if c not in built]
    if skipped:
        log.warning("taste: catalogs %s are not built; their entries are skipped", skipped)
    catalogs = {c: open_catalog(c, ctx.settings) for c in built}
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in (*(systems or ctx.systems), *rivals):
        journal = ctx.journal(SUITE, name)
        rankers = (
            {c: make_baselines(catalogs[c], ctx.settings, (name,))[name] for c in built}
            if name not in SYSTEMS
            else {}
        )
        out = []
        for e in tqdm(entries, desc=f"taste ({name})", unit="entry"):
            if e.key not in journal:
                try:
                    if name in SYSTEMS:
                        played = play_system(ctx.system(name, e.catalog), e, name)
                    else:
                        played = play_ranker(rankers[e.catalog], e)
                    journal.put(e.key, played)
                except Exception as err:  # one broken entry must not end the suite
                    log.exception("taste: %s raised on %s", name, e.id)
                    played = {"actions": ["error"], "lists": [[]], "error": repr(err)}
            else:
                played = journal.get(e.key)
            out.append(score(e, played, catalogs[e.catalog]))
        rows[name] = out
    return summarise(rows, {"catalogs": built, "skipped_catalogs": skipped, "quick": ctx.quick})


def summarise(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], notes: Mapping[str, Any] | None = None
) -> SuiteResult:
    summary: dict[str, dict[str, float]] = {}
    by_catalog: dict[str, dict[str, dict[str, float]]] = {}
    for name, rs in rows.items():
        summary[name] = metrics(rs)
        groups = sorted({r["catalog"] for r in rs})
        by_catalog[name] = {c: metrics([r for r in rs if r["catalog"] == c]) for c in groups}
        for c, m in by_catalog[name].items():
            summary[name][f"{c}_precision@5"] = m["precision@5"]
    details = {
        **(notes or {}),
        "by_catalog": by_catalog,
        "entries": {n: list(rs) for n, rs in rows.items()},
    }
    return SuiteResult(SUITE, summary, details, markdown(summary, by_catalog, rows))


def markdown(
    summary: Mapping[str, Mapping[str, float]],
    by_catalog: Mapping[str, Mapping[str, Mapping[str, float]]],
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
) -> str:
    """The suite's section of report.md: per system and catalog, per entry, the worst lists."""
    lines = [
        "### Taste panel (realistic requests, judged from the items' own catalog fields)",
        "",
        "P@5: share of the 5 slots holding an item with the entry's property (no list = 0). "
        "Echo: listed items whose title repeats a request word while lacking the property. "
        f"Well-known: listed movies with at least {WELL_KNOWN} ratings. Asked: entries whose "
        "last turn got a question instead of a list. ✗: an item without the property.",
        "",
        "| system | catalog | entries | lists | asked | P@5 | echo | well-known |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in summary:
        for c, m in [*by_catalog[name].items(), ("all", summary[name])]:
            known = f"{m['well_known_rate']:.3f}" if c != "phones" else "–"
            lines.append(
                f"| {name} | {c} | {m['entries']:.0f} | {m['lists']:.0f} | {m['asked']:.0f} | "
                f"{m['precision@5']:.3f} | {m['title_echo_rate']:.3f} | {known} |"
            )
    names = list(rows)
    lines += ["", "#### P@5 per entry", "", "| entry | request | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]  # fmt: skip
    first = rows[names[0]] if names else []
    for n, r in enumerate(first):
        cells = []
        for name in names:
            row = rows[name][n]
            cells.append("asked" if row["action"] == "ask" else f"{row['p@5']:.1f}")
        lines.append(f"| {r['id']} | {' / '.join(r['turns'])} | " + " | ".join(cells) + " |")
    for name in (s for s in SYSTEMS if s in rows):
        listed = [r for r in rows[name] if r["ids"]]
        worst = sorted(listed, key=lambda r: (r["p@5"], r["id"]))[:WORST_SHOWN]
        lines += ["", f"#### Worst lists of `{name}`", ""]
        for r in worst:
            got = "; ".join(
                f"{t}{'' if hit else ' ✗'}" for t, hit in zip(r["titles"], r["hits"], strict=True)
            )
            lines.append(f"- {r['id']} (“{' / '.join(r['turns'])}”), P@5 {r['p@5']:.1f}: {got}")
        unlisted = [f"{r['id']} ({r['action']})" for r in rows[name] if not r["ids"]]
        if unlisted:
            lines += ["", f"No list after the last turn ({len(unlisted)}): " + ", ".join(unlisted)]
    return "\n".join(lines) + "\n"


__all__ = ["Condition", "Entry", "Property", "content_words", "load_panel", "metrics",
           "play_ranker", "play_system", "quick_subset", "run", "score", "summarise"]  # fmt: skip
