"""CatalogSearch and the search app on real phone photos, real MiniLM, the shipped convrec-clip and
real Chroma (embedded and server)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kit import free_port, index_into, running_chroma

from convrec.errors import IndexError_, InputError
from convrec.ranking.search import CatalogSearch
from convrec.wiring import open_search

N_OTHERS = 40


@pytest.fixture(scope="module")
def embedded(
    phones_dir: Path, settings_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> CatalogSearch:
    settings = settings_factory(tmp_path_factory.mktemp("search"))
    index_into(settings, phones_dir)
    return open_search(str(phones_dir), settings)


@pytest.fixture(scope="module", params=["embedded", "server"])
def engine(
    request: pytest.FixtureRequest,
    embedded: CatalogSearch,
    phones_dir: Path,
    settings_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CatalogSearch]:
    if request.param == "embedded":
        yield embedded
        return
    cache = tmp_path_factory.mktemp("search-server")
    (cache / "server").mkdir()
    with running_chroma(cache / "server") as (host, port):
        settings = settings_factory(cache, store={"mode": "server", "host": host, "port": port})
        index_into(settings, phones_dir)
        yield open_search(str(phones_dir), settings)


def test_text_query_fuses_the_text_and_clip_channels(engine: CatalogSearch) -> None:
    assert engine.channels == ("text", "content", "image", "clip_text")
    result = engine.search("Sony phone with a big screen", k=5)
    makers = [engine.catalog[r.item_id].attributes.get("maker") for r in result.recommendations]
    assert makers.count("Sony") >= 4, makers
    top = result.recommendations[0]
    assert set(top.breakdown) <= {"text", "clip_text>image", "clip_text>clip_text"}
    assert top.score == pytest.approx(sum(top.breakdown.values()))
    assert top.image and Path(top.image).is_file()
    assert all(r.item_id in engine.catalog for r in result.recommendations)


def test_image_query_finds_the_pictured_phone(engine: CatalogSearch) -> None:
    item = next(it for it in engine.catalog.items if it.attributes.get("maker") != "Sony")
    photo = engine.catalog.image_path(item)
    result = engine.search(image=photo, k=3)
    assert result.recommendations[0].item_id == item.id
    assert "image>image" in result.recommendations[0].breakdown
    assert result.channels == ("clip_text", "image")


def test_bad_input_is_refused_with_a_fix(engine: CatalogSearch, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Nothing to search for"):
        engine.search("  ")
    with pytest.raises(InputError, match="limit is"):
        engine.search("x" * (engine.settings.limits.max_message_chars + 1))
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    with pytest.raises(InputError, match="unreadable image"):
        engine.search(image=fake)
    with pytest.raises(InputError, match="does not exist"):
        engine.search(image=tmp_path / "missing.jpg")


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG file that declares ``width`` × ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IEND", b"")


def test_bombs_and_truncated_photos_are_input_errors(
    embedded: CatalogSearch, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(30_000, 30_000))  # 900 megapixels in 100 bytes
    with pytest.raises(InputError, match=r"too large to decode safely.*Fix"):
        embedded.search(image=bomb)
    photo = next(it for it in embedded.catalog.items if it.image_paths)
    data = embedded.catalog.image_path(photo).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])  # an upload that stopped half way
    with pytest.raises(InputError, match=r"unreadable image.*Fix"):
        embedded.search(image=cut)


def test_unindexed_catalog_says_how_to_index(
    phones_dir: Path, settings_factory: Any, tmp_path: Path
) -> None:
    with pytest.raises(IndexError_, match="convrec index phones-sub"):
        open_search(str(phones_dir), settings_factory(tmp_path))


def test_app_serves_search_and_only_catalog_images(embedded: CatalogSearch) -> None:
    from gradio_client import Client

    from convrec.cli.search_app import load_app_module

    engine = embedded
    module = load_app_module()
    port = free_port()
    demo = module.launch(engine.settings, [str(engine.catalog.root)], port=port, block=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        html = Client(url, verbose=False).predict(
            str(engine.catalog.root), "Sony phone with a big screen", None, 4, api_name="/search"
        )
        assert html.count('class="cr-card"') == 4
        assert "Sony" in html and "<details" in html
        src = html.split('src="/', 1)[1].split('"', 1)[0]
        image = httpx.get(url + src, timeout=10)
        assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
        outside = httpx.get(f"{url}gradio_api/file=/etc/hostname", timeout=10)
        assert outside.status_code in {403, 404}
    finally:
        demo.close()


def test_cli_search(
    embedded: CatalogSearch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from convrec.cli import main

    s = embedded.settings
    config = tmp_path / "convrec.toml"
    config.write_text(
        f'cache_dir = "{s.cache_dir}"\nmodels_dir = "{s.models_dir}"\n'
        f'downloads_dir = "{s.downloads_dir}"\n'
    )
    root = str(embedded.catalog.root)
    argv = ["--config", str(config), "search", "--catalog", root]
    assert main([*argv, "Sony phone with a big screen", "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.split(".", 1)[0].strip().isdigit() for line in lines)
    assert sum("maker: Sony" in line for line in lines) >= 2, lines
    assert main(argv) == 2  # nothing to search for: an error with a fix, not a traceback


def test_cards_show_the_photo_colour_and_never_hidden_codes(embedded: CatalogSearch) -> None:
    item = next(it for it in embedded.catalog.items if "colour" in it.attributes)
    shown = dict(embedded.attributes(item.id, limit=20))
    assert next(iter(shown)) == "colour"
    assert shown["colour"] == f"{item.attributes['colour']} (photo)"
    assert "model_code" in item.attributes and "model_code" not in shown
    assert "colour_confidence" not in shown and "maker" in shown
