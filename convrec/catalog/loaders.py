"""Load items from a JSONL, CSV or Parquet file with a declared field mapping; report bad rows."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from convrec.catalog.convert import BadValue, as_float, check_image, convert_attr, infer_kind
from convrec.catalog.schema import (
    LIST_SEP,
    FieldMapping,
    LoadReport,
    Problem,
)
from convrec.errors import CatalogError
from convrec.types import AttrValue, Item

log = logging.getLogger(__name__)

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def load_items(
    path: str | Path, mapping: FieldMapping | None = None, *, images_root: str | Path | None = None
) -> LoadReport:
    """Read ``path`` (JSONL, CSV or Parquet, by extension) into Items.

    Rows with a missing or duplicate id, or a non-numeric price or popularity, are rejected; a
    missing/unreadable image or a badly typed attribute drops only that value. Every problem is
    logged and returned with its 1-based row number and field. Image paths are resolved against
    ``images_root`` (default: the file's folder) and stored as absolute paths.
    """
    path = Path(path)
    mapping = mapping or FieldMapping()
    root = Path(images_root) if images_root is not None else path.parent
    rows = list(_read_rows(path))
    _check_columns(path, rows, mapping)
    items: list[Item] = []
    problems: list[Problem] = []
    rejected: list[int] = []
    seen: dict[str, int] = {}
    image_ok: dict[Path, str | None] = {}
    for n, row in enumerate(rows, start=1):
        if row is None:
            problems.append(Problem(n, "row", "not a valid JSON object"))
            rejected.append(n)
            continue
        found: list[Problem] = []
        item = _to_item(n, row, mapping, root, seen, image_ok, found)
        problems.extend(found)
        if item is None:
            rejected.append(n)
        else:
            seen[item.id] = n
            items.append(item)
    for p in problems:
        log.warning("%s: %s", path.name, p)
    report = LoadReport(tuple(items), tuple(problems), len(rows), tuple(rejected))
    log.info("%s: %s", path.name, report.summary())
    return report


def _read_rows(path: Path) -> Iterator[dict[str, Any] | None]:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise CatalogError(
            f"Cannot tell the format of {path}: use a .jsonl, .csv or .parquet file "
            "(rename it to the right extension)."
        )
    if not path.is_file():
        raise CatalogError(f"Catalog file {path} does not exist. Fix: check the path.")
    if kind == "jsonl":
        yield from _read_jsonl(path)
    elif kind == "csv":
        yield from _read_csv(path)
    else:
        yield from _read_parquet(path)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any] | None]:
    good = bad = 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise CatalogError(f"{path} is not UTF-8 text ({e}). Fix: save it as UTF-8 JSONL.") from e
    out: list[dict[str, Any] | None] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            good += 1
            out.append(obj)
        else:
            bad += 1
            out.append(None)
    if bad and not good:
        raise CatalogError(
            f"{path} is not JSONL: none of its {bad} lines is a JSON object. "
            "Fix: write one JSON object per line (or use .csv/.parquet for other formats)."
        )
    yield from out


def _read_csv(path: Path) -> Iterator[dict[str, Any] | None]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames
    except (UnicodeDecodeError, csv.Error) as e:
        raise CatalogError(
            f"{path} is not a readable CSV file ({e}). Fix: save it as UTF-8 CSV."
        ) from e
    if not header:
        raise CatalogError(f"{path} has no header row. Fix: put the column names on line 1.")
    for row in rows:
        # Extra cells beyond the header land under the None key; short rows give None values.
        yield {k: v for k, v in row.items() if k is not None and v is not None}


def _read_parquet(path: Path) -> Iterator[dict[str, Any] | None]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several unrelated types for a corrupt file
        raise CatalogError(
            f"{path} is not a readable Parquet file ({e}). Fix: re-export it."
        ) from e
    yield from table.to_pylist()


def _check_columns(path: Path, rows: list[dict[str, Any] | None], mapping: FieldMapping) -> None:
    columns: set[str] = set()
    for row in rows:
        if row:
            columns.update(row)
    if not rows:
        return
    if mapping.id not in columns:
        raise CatalogError(
            f"{path} has no {mapping.id!r} column for the item id (columns: "
            f'{", ".join(sorted(columns)) or "none"}). Fix: pass --id-field COLUMN or set "id" in '
            "the mapping."
        )
    missing = [c for c in mapping.attributes if c not in columns]
    if missing:
        raise CatalogError(
            f"{path} lacks the attribute column(s) {', '.join(missing)} declared in the mapping. "
            "Fix: correct the column names in the mapping."
        )
    used = {
        getattr(mapping, f)
        for f in FieldMapping.__dataclass_fields__
        if f not in ("attributes", "roles")
    }
    ignored = columns - used - set(mapping.attributes) - {"attributes"}
    if ignored:
        log.info(
            "%s: columns not in the mapping are ignored: %s", path.name, ", ".join(sorted(ignored))
        )


def _empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _to_item(
    n: int,
    row: Mapping[str, Any],
    m: FieldMapping,
    root: Path,
    seen: Mapping[str, int],
    image_ok: dict[Path, str | None],
    problems: list[Problem],
) -> Item | None:
    raw_id = row.get(m.id)
    if _empty(raw_id) or isinstance(raw_id, dict | list):
        problems.append(Problem(n, "id", f"missing id (column {m.id!r})"))
        return None
    item_id = _as_id(raw_id)
    if item_id in seen:
        problems.append(
            Problem(n, "id", f"duplicate id {item_id!r} (first seen on row {seen[item_id]})")
        )
        return None
    numbers: dict[str, float | None] = {}
    for name in ("price", "popularity"):
        column = getattr(m, name)
        value = row.get(column) if column else None
        try:
            numbers[name] = None if _empty(value) else as_float(value, nonneg=True)
        except BadValue as e:
            problems.append(Problem(n, name, f"{e} (column {column!r})"))
            return None
    title = _text(row, m.title)
    if not title:
        problems.append(Problem(n, "title", "missing title; the id is used as the title"))
        title = item_id
    attrs = _attributes(n, row, m, problems)
    images = _images(n, row.get(m.image_paths) if m.image_paths else None, root, image_ok, problems)
    return Item(
        id=item_id,
        title=title,
        description=_text(row, m.description),
        category=_text(row, m.category),
        attributes=attrs,
        image_paths=images,
        price=numbers["price"],
        popularity=numbers["popularity"],
        date=_date(row.get(m.date)) if m.date else None,
    )


def _as_id(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _text(row: Mapping[str, Any], column: str | None) -> str:
    value = row.get(column) if column else None
    return "" if _empty(value) else str(value).strip()


def _date(value: Any) -> str | None:
    if _empty(value):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    return str(value).strip()


def _attributes(
    n: int, row: Mapping[str, Any], m: FieldMapping, problems: list[Problem]
) -> dict[str, AttrValue]:
    pairs: list[tuple[str, Any, str]] = []
    nested = row.get("attributes")
    if isinstance(nested, dict):  # the standard items.jsonl layout: types come from JSON
        pairs += [(k, v, infer_kind(v)) for k, v in nested.items() if k not in m.attributes]
    pairs += [(k, row.get(k), kind) for k, kind in m.attributes.items()]
    attrs: dict[str, AttrValue] = {}
    for name, value, kind in pairs:
        if _empty(value):
            continue
        try:
            attrs[name] = convert_attr(value, kind)
        except BadValue as e:
            problems.append(Problem(n, name, f"{e}; attribute dropped"))
    return attrs


def _images(
    n: int, value: Any, root: Path, cache: dict[Path, str | None], problems: list[Problem]
) -> tuple[str, ...]:
    if _empty(value):
        return ()
    paths = value if isinstance(value, list | tuple) else str(value).split(LIST_SEP)
    good: list[str] = []
    for raw in paths:
        if _empty(raw):
            continue
        p = Path(str(raw).strip()).expanduser()
        p = p if p.is_absolute() else root / p
        if p not in cache:
            cache[p] = check_image(p)
        reason = cache[p]
        if reason:
            problems.append(Problem(n, "image_paths", f"{raw}: {reason}; image dropped"))
        else:
            good.append(str(p.resolve()))
    return tuple(good)
