"""Stages 4–6: one query per route from the state, retrieval through the ``VectorStore`` and
``CollaborativeModel`` protocols, fusion and the rerank with a per-term breakdown."""
