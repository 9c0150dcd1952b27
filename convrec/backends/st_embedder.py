"""Text embedder backed by sentence-transformers (MiniLM by default), L2-normalised float32."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from convrec.errors import MissingDependencyError, ModelError

if TYPE_CHECKING:
    import numpy as np

    from convrec.config import Settings

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """TextEmbedder: ``encode_query``/``encode_document`` where the model distinguishes them."""

    def __init__(
        self,
        model_path: str,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        offline: bool = True,
        name: str | None = None,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise MissingDependencyError("sentence-transformers", purpose="text embeddings") from e
        try:
            self.model = SentenceTransformer(
                model_path, device=device, local_files_only=offline or Path(model_path).is_dir()
            )
        except (OSError, ValueError) as e:
            raise ModelError(
                f"Could not load the sentence-transformers model {model_path!r}: {e}. Fix: point "
                "embed.text_model at a sentence-transformers directory, run `convrec models fetch "
                "all-minilm-l6-v2`, or unset HF_HUB_OFFLINE to download a hub id."
            ) from e
        dim = getattr(self.model, "get_embedding_dimension", None)
        dim = dim() if dim else self.model.get_sentence_embedding_dimension()
        if not dim:
            raise ModelError(
                f"{model_path!r} does not report an embedding dimension. Fix: use a "
                "sentence-transformers model with a pooling layer."
            )
        self.dim: int = int(dim)
        self.batch_size = batch_size
        # Identifies the vector space: the index re-embeds everything when it changes.
        self.name = name or Path(model_path).name or model_path

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformerEmbedder:
        """The embedder named by ``settings.embed.text_model``, provisioned offline if packaged."""
        from convrec.models import ensure

        spec = settings.embed.text_model
        path = ensure(spec, settings)  # packaged name → verified local dir; dir; or hub id
        return cls(
            path,
            batch_size=settings.embed.batch_size,
            device=settings.embed.device,
            offline=settings.hub_offline or Path(path).is_dir(),
            name=spec,
        )

    def _encode(self, method: str, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        fn = getattr(self.model, method, None) or self.model.encode
        out = fn(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings for search queries (the model's query prompt, if it has one)."""
        return self._encode("encode_query", texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings for catalog texts (the model's document prompt, if it has one)."""
        return self._encode("encode_document", texts)
