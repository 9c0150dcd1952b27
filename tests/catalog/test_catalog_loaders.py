"""Loading user catalogs (JSONL, CSV, Parquet): bad rows reported, good rows kept, round trip."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from convrec.catalog.layout import open_catalog, read_manifest, write_catalog
from convrec.catalog.loaders import load_items
from convrec.catalog.schema import FieldMapping, flagged_attributes, item_metadata
from convrec.config import load_settings
from convrec.errors import CatalogError
from convrec.types import AttrValue, Item

MAPPING = FieldMapping(
    id="sku",
    title="name",
    description="blurb",
    price="price",
    image_paths="photos",
    attributes={
        "brand": "str",
        "stock": "int",
        "weight": "float",
        "new": "bool",
        "tags": "list[str]",
    },
)


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "red.png")
    Image.new("RGB", (8, 8), (10, 10, 200)).save(tmp_path / "blue.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return tmp_path


def rows() -> list[dict[str, Any]]:
    """Row 1-2 good; 3 missing id; 4 duplicate id; 5 bad price; 6 missing image; 7 unreadable
    image; 8 bad int attribute; 9 good with ;-separated images."""
    return [
        {"sku": "A1", "name": "Red mug", "blurb": "A red mug.", "price": "9.5", "photos": "red.png",
         "brand": "Acme", "stock": "3", "weight": "0.3", "new": "true", "tags": "kitchen;red"},
        {"sku": "A2", "name": "Blue mug", "price": "", "brand": "Acme", "new": "no"},
        {"sku": "", "name": "No id"},
        {"sku": "A1", "name": "Red mug again"},
        {"sku": "A3", "name": "Pricey", "price": "cheap"},
        {"sku": "A4", "name": "Ghost", "photos": "missing.png"},
        {"sku": "A5", "name": "Broken", "photos": "broken.jpg"},
        {"sku": "A6", "name": "Heavy", "stock": "many", "weight": "2.5"},
        {"sku": "A7", "name": "Both", "photos": "red.png;blue.jpg", "tags": "a; b"},
    ]  # fmt: skip


def write_jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    return path


def write_csv(path: Path) -> Path:
    cols = sorted({k for r in rows() for k in r})
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows())
    return path


def write_parquet(path: Path) -> Path:
    cols = sorted({k for r in rows() for k in r})
    table = pa.table({c: [r.get(c) for r in rows()] for c in cols})
    pq.write_table(table, path)
    return path


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_bad_rows_reported_good_rows_load(images: Path, fmt: str) -> None:
    path = WRITERS[fmt](images / f"items.{fmt}")
    report = load_items(path, MAPPING)
    found = {(p.row, p.field) for p in report.problems}
    assert (3, "id") in found  # missing id
    assert (4, "id") in found and "first seen on row 1" in str(report.problems)  # duplicate id
    assert (5, "price") in found  # non-numeric price
    assert (6, "image_paths") in found  # missing image
    assert (7, "image_paths") in found  # unreadable image
    assert (8, "stock") in found  # bad int attribute
    assert report.rejected == (3, 4, 5)
    assert report.rows == 9
    ids = [it.id for it in report.items]
    assert ids == ["A1", "A2", "A4", "A5", "A6", "A7"]  # nothing else silently dropped
    a1 = report.items[0]
    assert a1.title == "Red mug" and a1.price == 9.5
    assert a1.attributes == {"brand": "Acme", "stock": 3, "weight": 0.3, "new": True,
                             "tags": ("kitchen", "red")}  # fmt: skip
    assert Path(a1.image_paths[0]).name == "red.png" and Path(a1.image_paths[0]).is_absolute()
    a6 = next(it for it in report.items if it.id == "A6")
    assert "stock" not in a6.attributes and a6.attributes["weight"] == 2.5
    assert report.items[1].attributes["new"] is False and report.items[1].price is None
    a7 = report.items[-1]
    assert [Path(p).name for p in a7.image_paths] == ["red.png", "blue.jpg"]
    assert a7.attributes["tags"] == ("a", "b")
    assert not report.items[2].image_paths and not report.items[3].image_paths


def test_unparseable_files_raise_with_fix(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text("not json\nstill not\n")
    with pytest.raises(CatalogError, match="one JSON object per line"):
        load_items(bad)
    junk = tmp_path / "x.parquet"
    junk.write_bytes(b"PAR1 nope")
    with pytest.raises(CatalogError, match="Parquet"):
        load_items(junk)
    with pytest.raises(CatalogError, match=r"\.jsonl, \.csv or \.parquet"):
        load_items(tmp_path / "x.xlsx")
    good = tmp_path / "y.csv"
    good.write_text("name,price\nmug,3\n")
    with pytest.raises(CatalogError, match="--id-field"):
        load_items(good)


def test_one_bad_jsonl_line_is_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "1", "title": "ok"}\n{broken\n{"id": 3.0, "title": "three"}\n')
    report = load_items(path)
    assert [it.id for it in report.items] == ["1", "3"]
    assert [(p.row, p.field) for p in report.problems] == [(2, "row")]


def test_item_metadata_flattens_lists_for_chroma() -> None:
    attrs: dict[str, AttrValue] = {"genres": ("Animation", "Sci-Fi"), "year": 1995, "title": "x"}
    item = Item(id="1", title="Toy Story", category="movie", popularity=10.0, date="1995",
                attributes=attrs)  # fmt: skip
    meta = item_metadata(item)
    assert meta["genres"] == "Animation;Sci-Fi"
    assert meta["genres_animation"] is True and meta["genres_sci_fi"] is True
    assert meta["year"] == 1995 and meta["popularity"] == 10.0 and meta["attr_title"] == "x"
    assert all(isinstance(v, str | int | float | bool) for v in meta.values())
    assert "price" not in meta  # None is never emitted


def test_only_small_vocabularies_get_flags() -> None:
    items = [
        Item(id=str(i), title=f"m{i}", attributes={"genres": ("Drama",), "cast": (f"actor {i}",)})
        for i in range(5)
    ]
    assert flagged_attributes(items, limit=3) == {"genres"}
    meta = item_metadata(items[0], flagged_attributes(items, limit=3))
    assert meta["genres_drama"] is True and meta["cast"] == "actor 0"
    assert not any(k.startswith("cast_") for k in meta)


def test_round_trip_write_then_open(images: Path, tmp_path: Path) -> None:
    report = load_items(write_jsonl(images / "items.jsonl"), MAPPING)
    settings = load_settings(environ={}, cache_dir=str(tmp_path / "cache"))
    out = tmp_path / "cat"
    written = write_catalog(out, report.items, {"name": "mugs"})
    assert sorted(p.name for p in out.iterdir()) == ["catalog.json", "images", "items.jsonl"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cat")]  # no temp left over
    cat = open_catalog(out, settings)
    assert cat.name == "mugs" and cat.items == written.items
    assert [it.id for it in cat.items] == [it.id for it in report.items]
    a7 = cat["A7"]
    assert a7.image_paths == ("images/A1.png", "images/A7-1.jpg")  # a shared image is copied once
    assert all(cat.image_path(a7, k).is_file() for k in range(2))
    assert cat["A1"].attributes == report.items[0].attributes
    manifest = read_manifest(out)
    assert manifest is not None and manifest["counts"]["items"] == 6
    assert (
        manifest["attributes"]["tags"] == "list[str]" and manifest["attributes"]["stock"] == "int"
    )
    # Rewriting replaces the catalog atomically.
    write_catalog(out, report.items[:2], {"name": "mugs"})
    assert len(open_catalog(out, settings)) == 2


def test_open_missing_catalog_says_how_to_build(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cache_dir=str(tmp_path))
    with pytest.raises(CatalogError, match="convrec catalog build phones"):
        open_catalog("phones", settings)
    with pytest.raises(CatalogError, match="convrec catalog load"):
        open_catalog(tmp_path / "nowhere", settings)


def test_mapping_rejects_unknown_keys_and_types() -> None:
    with pytest.raises(CatalogError, match="Unknown key"):
        FieldMapping.from_dict({"id": "sku", "colour": "c"})
    with pytest.raises(CatalogError, match="list\\[str\\]"):
        FieldMapping.from_dict({"attributes": {"x": "list"}})
