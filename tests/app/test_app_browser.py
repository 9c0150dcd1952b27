"""The chat app in a real headless Debian Chromium driven by Playwright (never `playwright
install`; `make browser` installs /usr/bin/chromium). Screenshots go to artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kit import ROOT, Capped, free_port, index_into

from convrec.config import Settings

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    '--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"',
]  # fmt: skip
DONE = (  # the turn is over: every card carries its explanation (the final reply's cards)
    "() => { const e = [...document.querySelectorAll('.cr-card .cr-expl')];"
    " return e.length > 0 && e.every(x => x.innerText.trim().length > 0); }"
)
TILES = (  # per card tile: its cards and buttons, and whether the buttons lie inside the tile
    "() => [...document.querySelectorAll('.cr-tile')].map(t => {"
    " const box = t.getBoundingClientRect();"
    " const inside = e => { const b = e.getBoundingClientRect(); return b.width > 0 &&"
    " b.left >= box.left - 1 && b.right <= box.right + 1 && b.top >= box.top - 1 &&"
    " b.bottom <= box.bottom + 1; };"
    " const buttons = [...t.querySelectorAll('.cr-like, .cr-dislike')];"
    " return {item: t.querySelector('.cr-card')?.dataset.item ?? null,"
    " cards: t.querySelectorAll('.cr-card').length,"
    " like: t.querySelectorAll('.cr-like').length,"
    " dislike: t.querySelectorAll('.cr-dislike').length,"
    " inside: buttons.length > 0 && buttons.every(inside)}; })"
)
TURN_MS = 240_000  # one turn on a busy 2-core machine (real LLM understanding + explanations)


@pytest.fixture(scope="module")
def second_catalog(indexed: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second indexed catalog for the selector: the first one's phones that are not Sony."""
    from convrec.catalog.layout import open_catalog, write_catalog

    first = open_catalog(indexed.catalog, indexed)
    items = [
        replace(it, image_paths=(str(first.image_path(it)),))
        for it in first.items
        if it.attributes.get("maker") != "Sony" and it.image_paths
    ][:12]
    root = tmp_path_factory.mktemp("catalogs") / "others"
    write_catalog(root, items, {"name": "others"})
    index_into(indexed, root)
    return root


@pytest.fixture(scope="module")
def app_url(indexed: Settings, second_catalog: Path, smollm: Any) -> Iterator[str]:
    from convrec.cli.search_app import load_app_module

    module = load_app_module("chat_app")
    port = free_port()
    llm = Capped(smollm, indexed.llm.max_new_tokens)
    catalogs = [indexed.catalog, str(second_catalog)]
    demo = module.launch(indexed, catalogs, port=port, block=False, llm=llm)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(app_url: str) -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail("No /usr/bin/chromium. Fix: `make browser` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(TURN_MS)
        yield pg
        browser.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def card_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all(".cr-card", "els => els.map(e => e.dataset.item)"))


def send(page: Any, text: str) -> None:
    page.fill("#message textarea", text)
    page.click("#send")


def wait_cards_change(page: Any, before: list[str]) -> list[str]:
    page.wait_for_function(
        "b => { const ids = [...document.querySelectorAll('.cr-card')].map(e => e.dataset.item);"
        " return ids.length > 0 && JSON.stringify(ids) !== JSON.stringify(b) &&"
        " [...document.querySelectorAll('.cr-card img')].every(i => i.complete); }",
        arg=before,
    )
    return card_ids(page)


def test_chat_cards_feedback_image_and_restore(
    page: Any,
    app_url: str,
    indexed: Settings,
) -> None:
    page.goto(app_url)
    page.wait_for_selector("#message textarea")
    page.wait_for_function("() => localStorage.getItem('convrec-user') !== null")  # page loaded

    # chat → cards with real images
    send(page, "a Sony phone, just show me")
    ids = wait_cards_change(page, [])
    page.wait_for_function(DONE)
    widths = page.eval_on_selector_all(".cr-card img", "els => els.map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths), widths
    assert "Sony" in page.inner_text(".cr-card .cr-title")
    # each card holds its own like and dislike buttons, drawn inside it
    tiles = page.evaluate(TILES)
    assert [x["item"] for x in tiles] == ids
    assert all(x["cards"] == x["like"] == x["dislike"] == 1 and x["inside"] for x in tiles), tiles
    assert page.input_value("#catalog input") == Path(indexed.catalog).name  # a name, no path
    assert "a Sony phone, just show me" in page.inner_text("#chat")
    # the preference panel shows what the system now believes
    page.wait_for_function("() => document.querySelector('#beliefs').innerText.includes('Sony')")
    page.click(".cr-card .cr-why summary")  # the "why" toggle opens the score breakdown
    assert "score" in page.inner_text(".cr-card .cr-why")
    shot(page, "app-chat.png")  # docs/app.png is a copy of this artefact, refreshed by hand

    # dislike the first card: it is replaced
    page.click(".cr-dislike >> nth=0")
    after = wait_cards_change(page, ids)
    assert ids[0] not in after and len(after) == len(ids)
    shot(page, "app-dislike.png")

    # a new conversation, then a photo: more like this
    page.click("#new")
    page.wait_for_function("() => document.querySelectorAll('.cr-card').length === 0")
    from convrec.catalog.layout import open_catalog

    catalog = open_catalog(indexed.catalog, indexed)
    item = next(it for it in catalog.items if it.attributes.get("maker") != "Sony")
    page.set_input_files("#photo input[type=file]", str(catalog.image_path(item)))
    page.wait_for_selector("#photo img")
    send(page, "more like this")
    page.wait_for_function(
        "id => document.querySelector('.cr-card')?.dataset.item === id", arg=item.id
    )
    page.wait_for_function(DONE)
    shot(page, "app-image.png")
    final = card_ids(page)

    # reload: the conversation and the cards come back from the session store
    page.reload()
    page.wait_for_function(
        "() => document.querySelector('#chat')?.innerText.includes('more like this')"
    )
    page.wait_for_function(
        "n => document.querySelectorAll('.cr-card').length === n", arg=len(final)
    )
    assert card_ids(page) == final
    assert "a Sony phone" not in page.inner_text("#chat")  # the new conversation only
    shot(page, "app-restored.png")


def choose_catalog(page: Any, name: str) -> None:
    page.click("#catalog input")
    page.click(f"[role=option]:has-text('{name}')")


def test_switching_catalogs_keeps_each_conversation(
    page: Any,
    app_url: str,
    indexed: Settings,
    second_catalog: Path,
) -> None:
    from convrec.catalog.layout import open_catalog
    from convrec.sessions import SessionStore

    page.goto(app_url)
    page.wait_for_function("() => localStorage.getItem('convrec-user') !== null")
    page.wait_for_selector("#message textarea")
    store = SessionStore(indexed.sessions_path)  # this browser's session of the first catalog
    sids = [s for s in store.session_ids() if s.endswith(f":{Path(indexed.catalog).name}")]
    assert len(sids) <= 1, sids  # one browser, one session per catalog
    stored = store.get(sids[0]) if sids else None
    first_cards = [r.item_id for r in stored.shown] if stored else []

    choose_catalog(page, second_catalog.name)  # a fresh conversation in the other catalog
    page.wait_for_function("() => document.querySelectorAll('.cr-card').length === 0")
    send(page, "a phone with a big screen, just show me")
    ids = wait_cards_change(page, [])
    page.wait_for_function(DONE)
    others = {it.id for it in open_catalog(second_catalog, indexed).items}
    assert ids and set(ids) <= others, ids  # only the selected catalog's items
    assert "a Sony phone" not in page.inner_text("#chat")
    shot(page, "app-other-catalog.png")

    choose_catalog(page, Path(indexed.catalog).name)  # back: that conversation is restored
    page.wait_for_function(
        "b => JSON.stringify([...document.querySelectorAll('.cr-card')]"
        ".map(e => e.dataset.item)) === JSON.stringify(b)",
        arg=first_cards,
    )
    assert "a phone with a big screen" not in page.inner_text("#chat")


def _chat_has(page: Any, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#chat').innerText.includes(t)", arg=text)


def _titles(page: Any) -> list[str]:
    return list(page.eval_on_selector_all(".cr-card .cr-title", "els => els.map(e => e.innerText)"))


ACTS = ["answer", "compare", "change-of-mind", "reference", "family", "refine", "relax"]


@pytest.mark.parametrize("act", ACTS)
def test_dialogue_acts_as_typed(page: Any, app_url: str, indexed: Settings, act: str) -> None:
    """Each act of eval/dialogues/acts.yaml, typed into the app as a person would."""
    from convrec.catalog.layout import open_catalog

    catalog = open_catalog(indexed.catalog, indexed)
    page.goto(app_url)
    page.wait_for_function("() => localStorage.getItem('convrec-user') !== null")
    page.click("#new")
    page.wait_for_function("() => document.querySelectorAll('.cr-card').length === 0")
    if act == "family":  # learned from the titles: Xperia is Sony
        send(page, "show me some Xperia phones")
        wait_cards_change(page, [])
        assert all(t.startswith("Sony") for t in _titles(page)), _titles(page)
        return
    if act == "relax":
        send(page, "a Sony phone with 16 GB of RAM")
        _chat_has(page, "Nothing here has at least 16 GB of RAM")
        wait_cards_change(page, [])
        assert all(t.startswith("Sony") for t in _titles(page))
        return
    send(page, "Sony phones please, just show me")
    ids = wait_cards_change(page, [])
    page.wait_for_function(DONE)
    first, second = (catalog[i] for i in ids[:2])
    if act == "answer":  # from the item's own fields, and the cards stay
        send(page, "how much RAM does the first one have?")
        _chat_has(page, f"{first.title} has {first.attributes['ram_gb']:g} GB of RAM.")
        assert card_ids(page) == ids
    elif act == "compare":  # a table in the chat
        send(page, "compare the first two")
        page.wait_for_selector("#chat table")
        table = page.inner_text("#chat table")
        assert first.title in table and second.title in table
        shot(page, "app-compare.png")
    elif act == "change-of-mind":  # the old maker is replaced, not stacked
        send(page, "forget Sony, show me Sharp phones instead")
        wait_cards_change(page, ids)
        assert all(t.startswith("Sharp") for t in _titles(page)), _titles(page)
        page.wait_for_function(  # (a liked Sony item of an earlier test may still be listed)
            "() => { const b = document.querySelector('#beliefs').innerText;"
            " return b.includes('maker is Sharp') && !b.includes('maker is Sony'); }"
        )
    elif act == "reference":
        send(page, "tell me more about the second one")
        _chat_has(page, f"{second.attributes['ram_gb']:g} GB")
        assert second.title in page.inner_text("#chat").split("tell me more")[-1]
    else:  # refine: from the second shown, and newer than it
        send(page, "more like the second but newer")
        after = wait_cards_change(page, ids)
        year = second.attributes["release_year"]
        years = [catalog[i].attributes.get("release_year") for i in after]
        newer = all(isinstance(y, int) and y > year for y in years)
        said = "Nothing here is from" in page.inner_text("#chat")  # the second was the newest
        assert second.id not in after and (newer or said), (year, years)
