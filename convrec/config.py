"""One typed settings tree: convrec.toml, then CONVREC_* variables, then keyword arguments.

This is the only module that reads ``os.environ``. Nested fields are set from the environment with a
double underscore: ``CONVREC_LLM__MODEL=smollm2-135m`` sets ``settings.llm.model``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from convrec.errors import ConfigError

ENV_PREFIX = "CONVREC_"
DEFAULT_CONFIG_FILE = "convrec.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LLMSettings(_Section):
    # Which backend serves the LLM: "transformers" runs it in-process, "openai" calls any
    # OpenAI-compatible server (vLLM, llama.cpp server, TGI) at base_url; "none" runs without an
    # LLM: rules-only understanding, template questions and template explanations (fastest).
    backend: Literal["transformers", "openai", "none"] = "transformers"
    # A packaged model name (see `convrec models list`), a local directory or a hub id.
    model: str = "qwen2.5-coder-0.5b"
    # OpenAI-compatible server: base URL (ending in /v1), the model name it serves, and the key.
    base_url: str = "http://127.0.0.1:8080/v1"
    api_model: str = ""
    api_key: str = "not-needed"
    # Seconds before one request is abandoned, and how many times a failed request is retried.
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    # Upper bound on generated tokens per call.
    max_new_tokens: int = Field(default=256, ge=1, le=8192)
    # How explanations are made: "facts" (no generation: the links between what the user said and
    # the item's fields, then the description's first sentence; instant), or by the LLM: "items"
    # (one short prompt per item, batched; best with small models), "stream" (one numbered list,
    # streamed line by line) or "json" (one schema-bound object; slowest on a CPU). "facts" is
    # the default by measurement: labelled blind it was as personal as the 0.5B model's
    # sentences, more often faithful and, on movies, more often fluent, and the model took
    # 20-30 s for five items on 2 cores (eval/explanations/v2/report.md). See
    # convrec.explain.explanations.
    explain_mode: Literal["facts", "items", "stream", "json"] = "facts"
    # Precision of the in-process model's weights (it runs on the CPU; a GPU is reached through
    # an OpenAI-compatible server). bfloat16 halves the memory, but most CPUs have no fast path
    # for its matrix products: a 250-token simulator prompt + 48 tokens took 14.6 s in bfloat16
    # and 4.8 s in float32 on the 2-core machine.
    dtype: Literal["float32", "bfloat16"] = "float32"
    # Decode with int8 copies of the in-process model's linear weights (prompts still read with
    # the weights above): a token costs about 40% less on a CPU, the copies about 0.5 GB for the
    # 0.5B model. See convrec/backends/int8_decode.py.
    int8_decode: bool = True
    # CPU threads for in-process generation; 0 lets torch decide.
    threads: int = Field(default=0, ge=0)
    # In-process generation keeps the key/value cache of this many recent prompts and starts a
    # new prompt from the longest beginning it shares with one (the fixed instructions, the
    # earlier dialogue): only new tokens are read. 0 turns it off. Measured in eval/bench_llm.py.
    prefix_cache: int = Field(default=4, ge=0, le=64)
    # When the LLM reads the user's message: "needed" skips it when the rules found an intent cue
    # and read every word (values, titles, numbers, cues, wishes, function words), since the
    # grounding checks would drop anything else it said; "always" reads every message.
    read_when: Literal["needed", "always"] = "needed"


class EmbedSettings(_Section):
    # Sentence-transformers model for the text channel: packaged name, local directory or hub id.
    text_model: str = "all-minilm-l6-v2"
    # Image–text model: packaged name, a local open_clip checkpoint, or "hf-hub:..."/"ARCH/TAG"
    # open_clip pretrained tag (online users), e.g. "ViT-B-32/laion2b_s34b_b79k".
    image_text_model: str = "convrec-clip"
    # Items per encoder batch while indexing.
    batch_size: int = Field(default=64, ge=1, le=4096)
    # torch device for the encoders.
    device: str = "cpu"


class StoreSettings(_Section):
    # "embedded" uses a Chroma PersistentClient at `path`; "server" uses HttpClient(host, port)
    # against `chroma run --path DIR --host HOST --port PORT`.
    mode: Literal["embedded", "server"] = "embedded"
    # How hard constraints reach Chroma: "ids" evaluates them over the loaded catalog and
    # restricts every query to the matching ids (on the 9k-movie index this measured about 10x
    # faster than a metadata filter with Chroma 1.x); "where" sends them as Chroma `where`
    # metadata filters. Both give the same results (tests check it).
    filter_by: Literal["ids", "where"] = "ids"
    # Candidates Chroma's HNSW search explores per query (hnsw ef_search; applied to every
    # collection as it is opened). Chroma's default, 100, is approximate for the 100+ results a
    # channel asks for, and its results then differ between processes (measured on the 9k-movie
    # text index: 14 of 20 identical queries); 500 gave the same results in every process,
    # 99.5% of the exact top 100, in about 9 ms a query.
    ef_search: int = Field(default=500, ge=10, le=100_000)
    # Embedded store directory; empty means <cache_dir>/chroma.
    path: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class LimitsSettings(_Section):
    # Longest user message accepted, in characters.
    max_message_chars: int = Field(default=2000, ge=1)
    # Largest uploaded image accepted, in bytes.
    max_image_bytes: int = Field(default=10_000_000, ge=1)
    # Candidates each retrieval channel returns to the fusion.
    candidates_per_channel: int = Field(default=100, ge=1, le=5000)
    # Recommendations shown per turn.
    recommendations: int = Field(default=5, ge=1, le=50)
    # Clarifying questions asked before recommending anyway.
    max_questions: int = Field(default=3, ge=0, le=20)


class FusionSettings(_Section):
    # How channel rankings are fused: "rrf" (reciprocal rank) or "weighted" (normalised scores).
    # Defaults tuned on INSPIRED dev (eval/tune.py, report in eval/reports/tune/).
    method: Literal["rrf", "weighted"] = "weighted"
    # Weight per query route (query source > target channel). Text queries reach the text channel
    # and, through the image–text model, item images and item CLIP text; image queries reach the
    # two CLIP channels. 0 switches a route off.
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "text": 0.25,
            "context": 1.0,
            "clip_text>image": 0.5,
            "clip_text>clip_text": 0.3,
            "image>image": 1.0,
            "image>clip_text": 0.5,
            "context>text": 0.0,
            "cf": 0.5,
            "match": 1.0,
            "wish": 0.5,
        }
    )
    # The channel the "text" route (stated preferences and wishes) and the "context" routes
    # (the user's recent messages) query: "content" is the item text without titles, so request
    # words cannot rank an item by its title; "text" includes titles. An index built before the
    # content channel existed falls back to "text".
    text_channel: Literal["content", "text"] = "content"
    context_channel: Literal["content", "text"] = "content"
    # Item-to-item routes: a liked item's own stored vector queries the same channel. The weight
    # per channel is shared by the liked items (each of n items gets weight/n), so liking more
    # items refines the pull instead of drowning the other routes. "content" (falling back to
    # "text" in an index without it): on the titled text a liked film finds its look-alike
    # titles (Alien → Monsters vs Aliens), on the content the films told like it (Prometheus).
    item_weights: dict[str, float] = Field(
        default_factory=lambda: {"content": 1.0, "clip_text": 0.5, "image": 0.5}
    )
    # How many recent user messages become "context" queries (one each), the newest weighing
    # weights.context and each earlier one context_decay times the next; when the newest
    # message names a new liked item or genre, the earlier ones are further scaled by
    # context_shift (0 drops them: the new request rules the list).
    context_turns: int = Field(default=2, ge=0, le=20)
    context_decay: float = Field(default=0.5, ge=0, le=1)
    context_shift: float = Field(default=0.0, ge=0, le=1)
    # A message with fewer topic words than this (beyond filler, titles and reference words)
    # is no context route: a short request ("a spielberg film", "something just as tense") is
    # carried whole by what understanding read from it, and as free text it only adds noise.
    context_min_words: int = Field(default=3, ge=1, le=50)
    # The most recent liked items that become item-to-item queries.
    max_item_queries: int = Field(default=5, ge=0, le=50)


class RerankSettings(_Section):
    # Terms added to the fused channel score (each appears in a recommendation's breakdown).
    # Boost from similarity to liked items, penalty from similarity to disliked ones.
    liked_weight: float = Field(default=0.25, ge=0)
    disliked_weight: float = Field(default=0.5, ge=0)
    # Boost by the share of the user's liked values (genres, people, makers) an item holds; a
    # disliked value costs disliked_weight.
    preference_weight: float = Field(default=0.5, ge=0)
    # Penalty for an item the catalog cannot show to meet a value the user ruled out: it has no
    # value for that attribute ("not in English", and the film's language is unknown). A missing
    # value passes the filter; this puts the items known to meet it first.
    unverified_weight: float = Field(default=0.3, ge=0)
    # Quality prior: how well known (log count of interactions, else the item's popularity) and
    # how well rated (mean rating shrunk towards the catalog mean by rating_prior_count
    # pseudo-ratings) an item is. Strongest at a cold start, fading as preferences accumulate;
    # a request for "hidden gems" turns the well-known part around.
    popularity_weight: float = Field(default=0.8, ge=0)
    rating_weight: float = Field(default=0.4, ge=0)
    rating_prior_count: float = Field(default=10.0, ge=0)
    # MMR diversity: 1.0 = pure relevance, lower trades relevance for variety.
    mmr_lambda: float = Field(default=0.8, ge=0, le=1)
    # Exploration: "off", "epsilon" or "thompson" (see convrec.dialogue.policy.explore), and its
    # weight.
    exploration: Literal["off", "epsilon", "thompson"] = "thompson"
    exploration_weight: float = Field(default=0.05, ge=0)
    # How fast the popularity prior fades: its weight is popularity_weight / (1 + fade · n), n the
    # number of stated preferences, liked/disliked items and wishes.
    popularity_fade: float = Field(default=0.2, ge=0)
    # Fused candidates the rerank terms are computed for (the rest keep their channel order).
    pool: int = Field(default=100, ge=1, le=5000)


class CFSettings(_Section):
    # The collaborative model fitted from the catalog's interactions (interactions.parquet, or the
    # movies catalog's MovieLens ratings) by `convrec index`, and cached beside the index:
    # "item_knn" (cosine between items' positive users), "ease" (closed-form linear item-item
    # model) or "none". Compared on held-out MovieLens users in eval/reports/cf/.
    model: Literal["item_knn", "ease", "none"] = "ease"
    # Neighbours stored per item (with their scores); recommendations sum the liked items' lists.
    neighbours: int = Field(default=100, ge=1, le=1000)
    # Items with fewer positive interactions get no neighbours and are never a neighbour.
    min_interactions: int = Field(default=3, ge=1)
    # Ratings: the positive signal. "threshold" counts a rating >= positive_rating as a like;
    # "centred" weights each rating by how far it exceeds that user's mean rating.
    signal: Literal["threshold", "centred"] = "threshold"
    positive_rating: float = 4.0
    # EASE's L2 regularisation (the λ added to the diagonal of XᵀX).
    ease_l2: float = Field(default=500.0, gt=0)
    # Fit without the held-out fifth of users (convrec.catalog.interactions.held_out_user), whom
    # the evaluations simulate; false fits on every user (a deployment with no evaluation).
    hold_out_users: bool = True


class SessionSettings(_Section):
    # SQLite database of sessions and long-term profiles; empty means <cache_dir>/data/sessions.db.
    path: str = ""
    # Strict mode: chatting with an unknown session id is an error instead of starting one.
    strict: bool = False
    # Dialogue turns the LLM sees when it reads the conversation.
    history_turns: int = Field(default=6, ge=1, le=50)


class Settings(_Section):
    # Where models, downloaded packages, built catalogs and the embedded index live.
    cache_dir: str = "~/.cache/convrec"
    # Provisioned models; empty means <cache_dir>/models. Tests share one across temp caches.
    models_dir: str = ""
    # Downloaded registry packages (wheels, npm tarballs, .debs); empty means <cache_dir>/downloads.
    downloads_dir: str = ""
    # The catalog used when none is named: "phones", "movies" or a catalog directory.
    catalog: str = "phones"
    # Seed for everything stochastic (exploration, training, simulated users).
    seed: int = 0
    # Log level for the convrec logger.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    llm: LLMSettings = LLMSettings()
    embed: EmbedSettings = EmbedSettings()
    store: StoreSettings = StoreSettings()
    limits: LimitsSettings = LimitsSettings()
    fusion: FusionSettings = FusionSettings()
    rerank: RerankSettings = RerankSettings()
    sessions: SessionSettings = SessionSettings()
    cf: CFSettings = CFSettings()

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir).expanduser() if self.models_dir else self.cache_path / "models"

    @property
    def downloads_path(self) -> Path:
        if self.downloads_dir:
            return Path(self.downloads_dir).expanduser()
        return self.cache_path / "downloads"

    @property
    def catalogs_path(self) -> Path:
        return self.cache_path / "catalogs"

    @property
    def sessions_path(self) -> Path:
        if self.sessions.path:
            return Path(self.sessions.path).expanduser()
        return self.cache_path / "data" / "sessions.db"

    @property
    def store_path(self) -> Path:
        return Path(self.store.path).expanduser() if self.store.path else self.cache_path / "chroma"

    @property
    def hub_offline(self) -> bool:
        """True when the Hugging Face hub must not be contacted (HF_HUB_OFFLINE is set)."""
        return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}. Fix the file or remove it.") from e


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from, in rising precedence: the TOML file, CONVREC_* variables, keywords.

    The file is ``config_file``, else ``$CONVREC_CONFIG``, else ``./convrec.toml`` if it exists.
    Keyword overrides may be nested dicts or section objects,
    e.g. ``llm={"model": "smollm2-135m"}``.
    """
    env = os.environ if environ is None else environ
    explicit = config_file or env.get(ENV_PREFIX + "CONFIG")
    path = Path(explicit).expanduser() if explicit else Path(DEFAULT_CONFIG_FILE)
    if explicit and not path.is_file():
        raise ConfigError(
            f"Config file {path} does not exist. Fix the path or unset CONVREC_CONFIG."
        )
    tree = _from_toml(path) if path.is_file() else {}
    tree = _deep_merge(tree, _from_env(env))
    kw = {k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in overrides.items()}
    tree = _deep_merge(tree, kw)
    try:
        return Settings.model_validate(tree)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(
            f"Invalid settings ({problems}). Fix convrec.toml, the CONVREC_* variables "
            "(nested fields use a double underscore, e.g. CONVREC_LLM__MODEL) "
            "or the keyword arguments."
        ) from e
