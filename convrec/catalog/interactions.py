"""User–item interactions of a catalog: read them as a tidy table, load a user's file, split users.

A catalog dir may hold ``interactions.parquet`` (columns user, item, value; written by
:func:`write_interactions` from a user's CSV/JSONL/Parquet file) or, for the movies catalog, the
builder's MovieLens ``ratings.parquet`` (userId, movieId, rating, timestamp). Either reads as one
table of (user, item, value) rows whose items the catalog has, plus its kind: "rating" (a score
such as 0.5–5 stars) or "count" (how often the user bought, played or clicked the item).

The user split is fixed by a hash of the user id (:func:`held_out_user`): the collaborative model
is fitted only on the other users, so evaluations may simulate held-out users without their
ratings being inside the model.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from convrec.catalog.loaders import _read_rows
from convrec.catalog.schema import Problem
from convrec.errors import CatalogError

if TYPE_CHECKING:
    import pandas as pd

    from convrec.catalog.schema import Catalog

log = logging.getLogger(__name__)

INTERACTIONS_FILE = "interactions.parquet"  # the standard file: user, item, value
RATINGS_FILE = "ratings.parquet"  # the movies builder's MovieLens ratings
KIND_KEY = b"convrec.kind"  # parquet schema metadata: "rating" or "count"
SPLIT_SALT = "cf-split:"
HELD_OUT_BUCKETS = 5  # one user in this many is held out of the collaborative model
EXAMPLES = 5  # unknown item ids quoted in a report

Kind = Literal["rating", "count"]


@functools.lru_cache(maxsize=1 << 16)
def held_out_user(user_id: str) -> bool:
    """True for about one user in five, fixed by the id: never in the collaborative model's
    training data, so simulated users and evaluations draw from them."""
    digest = hashlib.sha256((SPLIT_SALT + str(user_id)).encode("utf-8")).digest()
    return digest[0] % HELD_OUT_BUCKETS == 0


@dataclass(frozen=True)
class Interactions:
    """A catalog's interactions: ``table`` has columns user (str), item (str), value (float)."""

    table: pd.DataFrame = field(compare=False)
    kind: Kind
    path: Path  # the file they were read from (its sha256 keys the fitted model's cache)

    def __len__(self) -> int:
        return len(self.table)

    def training(self) -> pd.DataFrame:
        """The rows of users that are not held out (:func:`held_out_user`): the model's data."""
        return self.table[~self._held_out_rows()].reset_index(drop=True)

    def held_out(self) -> pd.DataFrame:
        """The rows of held-out users: for evaluation and simulated users only."""
        return self.table[self._held_out_rows()].reset_index(drop=True)

    def _held_out_rows(self) -> Any:
        users = self.table["user"]
        flags = {u: held_out_user(u) for u in users.unique()}
        return users.map(flags).to_numpy(dtype=bool)


def interactions_file(root: Path) -> Path | None:
    """The interactions file of the catalog at ``root``: interactions.parquet, else the
    MovieLens ratings.parquet; None when it has neither."""
    for name in (INTERACTIONS_FILE, RATINGS_FILE):
        if (root / name).is_file():
            return root / name
    return None


def read_interactions(catalog: Catalog) -> Interactions | None:
    """The catalog's interactions (rows whose item the catalog lacks dropped, and logged), or
    None when it has no interactions file."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = interactions_file(catalog.root)
    if path is None:
        return None
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several unrelated types for a corrupt file
        raise CatalogError(
            f"{path} is not a readable Parquet file ({e}). Fix: rebuild the catalog or reload "
            "its interactions (`convrec catalog load ... --interactions FILE`)."
        ) from e
    kind: Kind = "rating"
    if path.name == RATINGS_FILE:
        df = pd.DataFrame(
            {
                "user": table.column("userId").to_pandas().astype("int64").astype(str),
                "item": table.column("movieId").to_pandas().astype("int64").astype(str),
                "value": table.column("rating").to_pandas().astype("float32"),
            }
        )
    else:
        meta = table.schema.metadata or {}
        kind = "count" if meta.get(KIND_KEY) == b"count" else "rating"
        df = table.select(["user", "item", "value"]).to_pandas()
        df = df.astype({"user": str, "item": str, "value": "float32"})
    known = df["item"].isin(set(_ids(catalog)))
    if not known.all():
        log.info(
            "%s: %d of %d interactions name items catalog %r lacks; ignored",
            path.name,
            int((~known).sum()),
            len(df),
            catalog.name,
        )
        df = df[known.to_numpy()].reset_index(drop=True)
    return Interactions(df, kind, path)


def _ids(catalog: Catalog) -> list[str]:
    return [it.id for it in catalog.items]


@dataclass(frozen=True)
class InteractionMapping:
    """Columns of a user's interactions file: user, item, and a rating or a count column."""

    user: str = "user"
    item: str = "item"
    rating: str | None = "rating"
    count: str | None = "count"

    @classmethod
    def parse(cls, spec: str) -> InteractionMapping:
        """``"user=uid,item=sku,count=plays"`` → the mapping (unnamed roles keep defaults; naming
        only one of rating/count drops the other)."""
        data: dict[str, str | None] = {}
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            role, sep, column = part.partition("=")
            role = role.strip()
            if not sep or role not in ("user", "item", "rating", "count") or not column.strip():
                raise CatalogError(
                    f"Bad interaction column spec {part!r}. Fix: ROLE=COLUMN pairs with roles "
                    "user, item, rating, count, e.g. user=uid,item=sku,rating=stars"
                )
            data[role] = column.strip()
        if "rating" in data and "count" not in data:
            data["count"] = None
        elif "count" in data and "rating" not in data:
            data["rating"] = None
        return cls(**data)  # type: ignore[arg-type]


@dataclass(frozen=True)
class InteractionsReport:
    """What a load produced: one row per (user, item) and every problem found."""

    table: pd.DataFrame = field(compare=False)  # user, item, value
    kind: Kind
    problems: tuple[Problem, ...]
    rows: int  # data rows read from the file
    rejected: tuple[int, ...] = ()  # rows that became no interaction (bad or unknown item)
    unknown_item_rows: int = 0  # rows naming an item the catalog lacks (also in ``rejected``)
    merged: int = 0  # repeated (user, item) rows folded into one (counts summed, last rating)

    def summary(self) -> str:
        return (
            f"{self.rows} interaction rows read, {len(self.table)} interactions of "
            f"{self.table['user'].nunique() if len(self.table) else 0} users loaded ({self.kind}), "
            f"{len(self.rejected)} rows rejected ({self.unknown_item_rows} for an item not in the "
            f"catalog), {self.merged} repeats merged, {len(self.problems)} problems"
        )


def load_interactions(
    path: str | Path, items: Collection[str], mapping: InteractionMapping | None = None
) -> InteractionsReport:
    """Read a user's interactions file (JSONL, CSV or Parquet, by extension).

    Rows with a missing user or item, or a missing, non-numeric or negative value, are rejected
    with their 1-based row number; rows naming an item not in ``items`` are rejected and counted
    (one problem quotes a few of those ids). A repeated (user, item) pair is folded into one: a
    later rating replaces the earlier one (reported), counts add up.
    """
    path = Path(path)
    mapping = mapping or InteractionMapping()
    rows = list(_read_rows(path))
    value_column, kind = _value_column(path, rows, mapping)
    known = items if isinstance(items, set | frozenset) else set(items)
    problems: list[Problem] = []
    rejected: list[int] = []
    pairs: dict[tuple[str, str], tuple[float, int]] = {}  # (user, item) → (value, first row)
    unknown: dict[str, int] = {}  # item → rows naming it
    first_unknown = 0
    merged = 0
    for n, row in enumerate(rows, start=1):
        if row is None:
            problems.append(Problem(n, "row", "not a valid JSON object"))
            rejected.append(n)
            continue
        parsed = _parse_row(n, row, mapping, value_column, kind, problems)
        if parsed is None:
            rejected.append(n)
            continue
        user, item, value = parsed
        if item not in known:
            unknown[item] = unknown.get(item, 0) + 1
            first_unknown = first_unknown or n
            rejected.append(n)
            continue
        before = pairs.get((user, item))
        if before is None:
            pairs[(user, item)] = (value, n)
            continue
        merged += 1
        if kind == "count":
            pairs[(user, item)] = (before[0] + value, before[1])
        else:
            problems.append(
                Problem(
                    n,
                    value_column,
                    f"user {user!r} rated item {item!r} again (first on "
                    f"row {before[1]}); this later rating is kept",
                )
            )
            pairs[(user, item)] = (value, before[1])
    n_unknown = sum(unknown.values())
    if unknown:
        quoted = ", ".join(repr(i) for i in sorted(unknown, key=lambda i: -unknown[i])[:EXAMPLES])
        problems.append(
            Problem(
                first_unknown,
                mapping.item,
                f"this and {n_unknown - 1} more rows name "
                f"{len(unknown)} item(s) the catalog lacks (e.g. {quoted}); rejected. Fix: "
                "use the catalog's item ids",
            )
        )
    for p in problems:
        log.warning("%s: %s", path.name, p)
    report = InteractionsReport(
        _frame(pairs), kind, tuple(problems), len(rows), tuple(rejected), n_unknown, merged
    )
    log.info("%s: %s", path.name, report.summary())
    return report


def _value_column(
    path: Path, rows: list[dict[str, Any] | None], m: InteractionMapping
) -> tuple[str, Kind]:
    columns: set[str] = set()
    for row in rows:
        if row:
            columns.update(row)
    for role in ("user", "item"):
        if rows and getattr(m, role) not in columns:
            raise CatalogError(
                f"{path} has no {getattr(m, role)!r} column for the {role} id (columns: "
                f"{', '.join(sorted(columns)) or 'none'}). Fix: name it with "
                f"--interaction-columns {role}=COLUMN."
            )
    has_rating = m.rating is not None and m.rating in columns
    has_count = m.count is not None and m.count in columns
    if has_rating and has_count:
        raise CatalogError(
            f"{path} has both a rating ({m.rating!r}) and a count ({m.count!r}) column. Fix: "
            "choose one with --interaction-columns rating=COLUMN or count=COLUMN."
        )
    if has_rating and m.rating:
        return m.rating, "rating"
    if has_count and m.count:
        return m.count, "count"
    if not rows:
        return m.rating or m.count or "rating", "rating" if m.rating else "count"
    wanted = " or ".join(repr(c) for c in (m.rating, m.count) if c)
    raise CatalogError(
        f"{path} has no {wanted} column for the rating or count (columns: "
        f"{', '.join(sorted(columns))}). Fix: --interaction-columns rating=COLUMN or count=COLUMN."
    )


def _parse_row(
    n: int,
    row: Mapping[str, Any],
    m: InteractionMapping,
    value_column: str,
    kind: Kind,
    problems: list[Problem],
) -> tuple[str, str, float] | None:
    ids: list[str] = []
    for role in ("user", "item"):
        column = getattr(m, role)
        raw = row.get(column)
        text = _as_id(raw)
        if not text:
            problems.append(Problem(n, role, f"missing {role} id (column {column!r})"))
            return None
        ids.append(text)
    raw = row.get(value_column)
    try:
        value = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
    except ValueError:
        value = math.nan
    if raw is None or isinstance(raw, bool) or not math.isfinite(value):
        problems.append(Problem(n, kind, f"{raw!r} is not a number (column {value_column!r})"))
        return None
    if value < 0 and kind == "count":
        problems.append(Problem(n, kind, f"negative count {value:g} (column {value_column!r})"))
        return None
    return ids[0], ids[1], value


def _as_id(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def _frame(pairs: Mapping[tuple[str, str], tuple[float, int]]) -> pd.DataFrame:
    import pandas as pd

    order = sorted(pairs.items(), key=lambda kv: kv[1][1])  # file order
    return pd.DataFrame(
        {
            "user": pd.Series([u for (u, _), _ in order], dtype=str),
            "item": pd.Series([i for (_, i), _ in order], dtype=str),
            "value": pd.Series([v for _, (v, _) in order], dtype="float32"),
        }
    )


def write_interactions(root: Path, report: InteractionsReport) -> Path:
    """Write ``interactions.parquet`` into the catalog dir ``root`` (temp file, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(report.table, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), KIND_KEY: report.kind.encode()}
    )
    dest = Path(root) / INTERACTIONS_FILE
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, dest)
    return dest


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (keys the fitted model's cache)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = [
    "INTERACTIONS_FILE",
    "RATINGS_FILE",
    "InteractionMapping",
    "Interactions",
    "InteractionsReport",
    "held_out_user",
    "interactions_file",
    "load_interactions",
    "read_interactions",
    "write_interactions",
]
