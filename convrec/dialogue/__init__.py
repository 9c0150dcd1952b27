"""Stages 1–3: read the dialogue (rules against the catalog's lexicon, then the LLM for what the
rules left unread), reduce it into a ``DialogueState``, and decide what to do next (ask, recommend,
answer, clarify). Never imports ``convrec.ranking``."""
