"""The policy's question in words: the LLM phrases it (prompts/ask.yaml), a template backs it up.

The LLM's sentence is used only if it is one short question that names every option; otherwise
(or on an :class:`LLMError`) the deterministic template is used, so a question always reaches the
user with the options the policy chose.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from convrec.dialogue.lexicon import norm_phrase
from convrec.errors import InputError, LLMError
from convrec.prompts import render

if TYPE_CHECKING:
    from convrec.dialogue.policy import Decision
    from convrec.protocols import LLM

log = logging.getLogger(__name__)

MAX_CHARS = 220  # a longer reply is rambling, not a question
MAX_NEW_TOKENS = 60
LABELS = {
    "genres": "genre", "maker": "brand", "os": "operating system", "ram_gb": "amount of RAM",
    "storage_gb": "storage", "screen_inches": "screen size (inches)", "cpu_ghz": "processor speed",
    "release_year": "release year", "runtime_min": "length (minutes)", "cores": "number of cores",
    "director": "director", "country": "country", "language": "language", "year": "year",
}  # fmt: skip


def label(attribute: str) -> str:
    """The attribute in words ("ram_gb" → "amount of RAM")."""
    return LABELS.get(attribute, attribute.replace("_", " "))


def template(decision: Decision) -> str:
    """The deterministic question: "Which genre would you like: Comedy, Drama or Horror, or
    something else?" ("or something else" left out when the options cover every candidate)."""
    if decision.attribute is None:
        raise InputError("phrase_question needs an 'ask' decision with an attribute.")
    opts = list(decision.options)
    if not opts:
        return f"Which {label(decision.attribute)} would you like?"
    listed = ", ".join(opts[:-1]) + f" or {opts[-1]}" if len(opts) > 1 else opts[0]
    rest = "" if decision.exhaustive else ", or something else"
    return f"Which {label(decision.attribute)} would you like: {listed}{rest}?"


def acceptable(text: str, options: tuple[str, ...]) -> bool:
    """One short question that names every option (case and accents ignored)."""
    said = f" {norm_phrase(text)} "
    return (
        0 < len(text) <= MAX_CHARS
        and "\n" not in text
        and text.count("?") == 1
        and all(f" {norm_phrase(o)} " in said for o in options)
    )


def phrase_question(
    decision: Decision, llm: LLM | None, catalog_name: str, *, max_new_tokens: int = MAX_NEW_TOKENS
) -> str:
    """The question for ``decision`` (action "ask"): the LLM's wording if acceptable, else the
    template."""
    fallback = template(decision)
    if llm is None or decision.attribute is None:
        return fallback
    attr = decision.attribute
    prompt = render("ask", catalog=catalog_name, label=label(attr), options=list(decision.options))
    try:
        text = llm.generate(prompt, max_new_tokens=max_new_tokens).strip().strip('"')
    except LLMError as e:
        log.info("question phrasing fell back to the template: %s", e)
        return fallback
    if not acceptable(text, decision.options):
        log.info("question phrasing fell back to the template: unusable reply %r", text[:80])
        return fallback
    return text


__all__ = ["acceptable", "label", "phrase_question", "template"]
