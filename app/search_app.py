"""Gradio search app over the public API: type a wish and/or drop a photo, get catalog items.

Run it with `convrec app` (or `make demo`). It binds to 127.0.0.1 with analytics off and serves
only the image folders of the catalogs it offers.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from convrec import CatalogSearch, ConvRecError, SearchResult, Settings, catalog_dir, open_search

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)

CSS = """
.cr-grid {display:grid; grid-template-columns:repeat(auto-fill,minmax(210px,1fr)); gap:12px}
.cr-card {border:1px solid #ddd; border-radius:10px; padding:10px; background:#fff; color:#222}
.cr-card img {width:100%; height:170px; object-fit:contain; background:#f6f6f6; border-radius:6px}
.cr-title {font-weight:600; margin:6px 0 4px}
.cr-attrs {font-size:12px; color:#555; margin:0; padding-left:16px}
.cr-why {font-size:12px; margin-top:6px}
"""


class SearchApp:
    """Holds one CatalogSearch per catalog, opened on first use (loading models takes seconds)."""

    def __init__(self, settings: Settings, catalogs: Sequence[str]) -> None:
        if not catalogs:
            raise ConvRecError(
                "No catalog to show. Fix: `convrec catalog build phones && convrec index phones`."
            )
        self.settings = settings
        self.catalogs = list(catalogs)
        self._open: dict[str, CatalogSearch] = {}
        self._lock = threading.Lock()

    def engine(self, catalog: str) -> CatalogSearch:
        with self._lock:
            if catalog not in self._open:
                self._open[catalog] = open_search(catalog, self.settings)
            return self._open[catalog]

    def search(self, catalog: str, text: str, image: str | None, k: float) -> str:
        """The result cards as HTML; bad input becomes a visible gradio error."""
        import gradio as gr

        try:
            engine = self.engine(catalog)
            result = engine.search(text, image, k=int(k))
        except ConvRecError as e:
            raise gr.Error(str(e)) from e
        return render(result, engine)

    def allowed_paths(self) -> list[str]:
        """Only the catalogs' own folders (their images) may be served."""
        return [str(catalog_dir(c, self.settings)) for c in self.catalogs]

    def build(self) -> gr.Blocks:
        import gradio as gr

        with gr.Blocks(title="convrec search") as demo:
            gr.Markdown(
                "## convrec: search your catalog by text and by image\n"
                'Type a wish ("a white phone with a keyboard") and/or drop a photo. Results come '
                "only from the catalog, fused over the text, image and CLIP-text channels."
            )
            with gr.Row():
                catalog = gr.Dropdown(self.catalogs, value=self.catalogs[0], label="Catalog")
                k = gr.Slider(1, 24, value=8, step=1, label="Results")
            with gr.Row():
                text = gr.Textbox(label="What are you looking for?", scale=3, elem_id="query")
                image = gr.Image(type="filepath", label="More like this photo", scale=1)
            button = gr.Button("Search", variant="primary", elem_id="search")
            cards = gr.HTML(elem_id="results")
            inputs = [catalog, text, image, k]
            button.click(self.search, inputs, cards, api_name="search")
            text.submit(self.search, inputs, cards, api_visibility="private")
        return demo


def render(result: SearchResult, engine: CatalogSearch) -> str:
    """Cards: image (or a placeholder), title, key attributes, and the per-channel breakdown."""
    if not result.recommendations:
        return "<p>No catalog item matches. Try fewer words or another photo.</p>"
    cards = []
    for rec in result.recommendations:
        pic = (
            f'<img src="/gradio_api/file={html.escape(rec.image)}" alt="{html.escape(rec.title)}">'
            if rec.image
            else ""  # no picture: the card is its text (no grey box)
        )
        attrs = "".join(
            f"<li>{html.escape(n)}: {html.escape(v)}</li>"
            for n, v in engine.attributes(rec.item_id)
        )
        why = ", ".join(f"{html.escape(n)} {v:.4f}" for n, v in rec.breakdown.items())
        cards.append(
            f'<div class="cr-card" data-item="{html.escape(rec.item_id)}">{pic}'
            f'<div class="cr-title">{html.escape(rec.title)}</div><ul class="cr-attrs">{attrs}</ul>'
            f'<details class="cr-why"><summary>why</summary>score {rec.score:.4f}: {why}'
            "</details></div>"
        )
    channels = ", ".join(result.channels)
    return f'<p>Searched: {channels}</p><div class="cr-grid">{"".join(cards)}</div>'


def launch(
    settings: Settings,
    catalogs: Sequence[str],
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
) -> Any:
    """Build and start the app; with ``block=False`` return the running Blocks (tests)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = SearchApp(settings, catalogs)
    app.engine(app.catalogs[0])  # load the default catalog's models before the first visitor
    demo = app.build()
    # 4 events at once, 64 waiting: past that a visitor is told the queue is full at once,
    # instead of waiting minutes behind everyone else (eval/load.py measures the waits)
    demo.queue(default_concurrency_limit=4, max_size=64)
    log.info("serving %s on http://%s:%d", ", ".join(app.catalogs), host, port)
    demo.launch(
        server_name=host,
        server_port=port,
        allowed_paths=app.allowed_paths(),
        prevent_thread_lock=not block,
        share=False,
        show_error=True,
        css=CSS,
    )
    return demo
