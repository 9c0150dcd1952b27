"""The chat app's card views (pure HTML over real catalog items; the browser tests drive the
app itself)."""

from __future__ import annotations

from typing import Any

import pytest

from convrec.types import Item


@pytest.fixture(scope="module")
def views() -> Any:
    from convrec.cli.search_app import load_app_module

    return load_app_module("chat_app")


def test_an_item_without_a_picture_gets_a_typographic_poster(views: Any) -> None:
    movie = Item("1", "Toy <Story>", "", "movie", {"genres": ("Animation", "Comedy")}, date="1995")
    poster = views.poster_html(movie)
    assert 'class="cr-poster"' in poster and "no image" not in poster
    assert "Toy &lt;Story&gt;" in poster and "1995 · Animation" in poster  # escaped, year, kind
    phone = views.poster_html(Item("2", "Xperia Z", "", "phone", {"maker": "Sony"}))
    assert "Xperia Z" in phone and 'cr-poster-sub">Sony<' in phone  # no year: the maker alone


def test_the_catalog_selector_names_catalogs(views: Any) -> None:
    assert views.catalog_label("/tmp/pytest-7/catalogs0/phones-sub") == "phones-sub"
    assert views.catalog_label("movies") == "movies"
