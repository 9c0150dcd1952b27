"""Image–text embedder on open_clip: shipped convrec-clip, local checkpoints, pretrained tags."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convrec import fetch
from convrec.errors import ModelError
from convrec.models.registry import SHIPPED_CLIP_DIR

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL.Image import Image

    from convrec.config import Settings

log = logging.getLogger(__name__)

SHIPPED_NAME = "convrec-clip"
SHIPPED_DIR = SHIPPED_CLIP_DIR
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
# Text towers that checkpoints reference by name instead of duplicating their weights.
MINILM_IDS = {"sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2"}


def minilm_dir(settings: Settings) -> Path:
    """Local all-MiniLM-L6-v2 directory (provisioned into the models cache on first use)."""
    from convrec.models import ensure

    return Path(ensure("all-minilm-l6-v2", settings))


def resolve_model_cfg(model_cfg: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Point a named MiniLM text tower at its local directory (the checkpoint omits its weights)."""
    cfg = json.loads(json.dumps(model_cfg))
    text = cfg.get("text_cfg", {})
    if text.get("hf_model_name") in MINILM_IDS:
        local = str(minilm_dir(settings))
        text["hf_model_name"] = local
        text["hf_tokenizer_name"] = local
    return cfg


def build_open_clip(model_cfg: dict[str, Any], pretrained_text: bool = True) -> torch.nn.Module:
    """An open_clip CLIP or CustomTextCLIP from a config dict (as in open_clip_config.json)."""
    from open_clip.model import CLIP, CustomTextCLIP

    cfg = json.loads(json.dumps(model_cfg))
    custom = cfg.pop("custom_text", False) or "hf_model_name" in cfg["text_cfg"]
    if "hf_model_name" in cfg["text_cfg"]:
        cfg["text_cfg"]["hf_model_pretrained"] = pretrained_text
    cls = CustomTextCLIP if custom else CLIP
    model: torch.nn.Module = cls(**cfg)
    return model


def make_tokenizer(model_cfg: dict[str, Any]) -> Any:
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    text = model_cfg["text_cfg"]
    ctx = text.get("context_length", 77)
    if text.get("hf_tokenizer_name"):
        return HFTokenizer(text["hf_tokenizer_name"], context_length=ctx)
    return SimpleTokenizer(context_length=ctx)


def make_preprocess(preprocess_cfg: dict[str, Any]) -> Any:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(**preprocess_cfg), is_train=False)


def load_local_checkpoint(path: Path, settings: Settings) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(model, preprocess, tokenizer, config) from an open_clip checkpoint directory or weights file
    with ``open_clip_config.json`` beside it. Text-tower weights absent from the file are loaded
    from the referenced pretrained text model (how convrec-clip avoids duplicating MiniLM)."""
    from open_clip.factory import load_state_dict

    weights = path / WEIGHTS_FILE if path.is_dir() else path
    config_path = (path if path.is_dir() else path.parent) / CONFIG_FILE
    if not config_path.is_file() or not weights.is_file():
        raise ModelError(
            f"{path} is not an open_clip checkpoint: it needs {CONFIG_FILE} and the weights "
            f"({WEIGHTS_FILE} or the file you named). Fix: point embed.image_text_model at a "
            "directory written by `convrec train-clip`, or use a pretrained tag such as "
            "'ViT-B-32/laion2b_s34b_b79k' online."
        )
    config = json.loads(config_path.read_text(encoding="utf-8"))
    model_cfg = resolve_model_cfg(config.get("model_cfg", config), settings)
    model = build_open_clip(model_cfg, pretrained_text=True)
    state = {k: v.float() for k, v in load_state_dict(str(weights)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    external_text = "hf_model_name" in model_cfg["text_cfg"]
    bad = [k for k in missing if not (external_text and k.startswith("text."))]
    if bad or unexpected:
        raise ModelError(
            f"{weights} does not match its config (missing {bad[:3]}, unexpected "
            f"{list(unexpected)[:3]}). Fix: retrain or re-export the checkpoint."
        )
    model.eval()
    preprocess = make_preprocess(config.get("preprocess_cfg", {}))
    return model, preprocess, make_tokenizer(model_cfg), config


def _hub_model(spec: str, settings: Settings) -> tuple[Any, Any, Any]:
    if settings.hub_offline:
        raise ModelError(
            f"The image–text model {spec!r} must be downloaded from the Hugging Face hub, but "
            "HF_HUB_OFFLINE is set. Fix: unset HF_HUB_OFFLINE on a machine with internet access, "
            f"or set embed.image_text_model to {SHIPPED_NAME!r} or a local open_clip checkpoint."
        )
    import open_clip

    if spec.startswith("hf-hub:"):
        model, _, preprocess = open_clip.create_model_and_transforms(spec)
        return model, preprocess, open_clip.get_tokenizer(spec)
    arch, tag = spec.split("/", 1)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=tag)
    except RuntimeError as e:
        raise ModelError(f"open_clip could not load {spec!r}: {e}. Fix: check the tag.") from e
    return model, preprocess, open_clip.get_tokenizer(arch)


@dataclass
class OpenClipEmbedder:
    """ImageTextEmbedder over any open_clip model; L2-normalised float32 vectors."""

    model: Any
    preprocess: Any
    tokenizer: Any
    dim: int
    device: str = "cpu"
    batch_size: int = 64
    # Identity of the vector space (the index keys stored vectors by it): the spec, plus a hash
    # of the weights for local checkpoints so a retrained checkpoint is not mixed with the old.
    name: str = ""

    @classmethod
    def from_spec(cls, spec: str, settings: Settings) -> OpenClipEmbedder:
        """``convrec-clip``, a local checkpoint path, ``hf-hub:org/name`` or ``ARCH/TAG``."""
        import open_clip

        from convrec.models import ensure

        # The shipped model is provisioned into the models cache (verified there) and then loads
        # like any local checkpoint.
        path = Path(ensure(spec, settings)) if spec == SHIPPED_NAME else Path(spec).expanduser()
        name = spec
        if path.exists():
            model, preprocess, tokenizer, _ = load_local_checkpoint(path, settings)
            weights = path / WEIGHTS_FILE if path.is_dir() else path
            name = f"{spec}@{fetch.sha256_file(weights)[:12]}"
        elif spec.startswith("hf-hub:") or spec.split("/", 1)[0] in open_clip.list_models():
            model, preprocess, tokenizer = _hub_model(spec, settings)
        else:
            raise ModelError(
                f"Unknown image–text model {spec!r}. Fix: set embed.image_text_model to "
                f"{SHIPPED_NAME!r}, a local open_clip checkpoint directory, 'hf-hub:org/name' or "
                "an open_clip 'ARCH/TAG' such as 'ViT-B-32/laion2b_s34b_b79k'."
            )
        device = settings.embed.device
        model = model.to(device).eval()
        dim, batch = _output_dim(model), settings.embed.batch_size
        return cls(model, preprocess, tokenizer, dim, device, batch, name)

    def encode_images(self, images: Sequence[Path | Image]) -> np.ndarray:
        import torch

        batches = []
        for start in range(0, len(images), self.batch_size):
            chunk = [_open_rgb(im) for im in images[start : start + self.batch_size]]
            x = torch.stack([self.preprocess(im) for im in chunk]).to(self.device)
            with torch.inference_mode():
                batches.append(self.model.encode_image(x, normalize=True).float().cpu())
        return _stack(batches, self.dim)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        batches = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[start : start + self.batch_size])).to(self.device)
            with torch.inference_mode():
                batches.append(self.model.encode_text(tokens, normalize=True).float().cpu())
        return _stack(batches, self.dim)


def _output_dim(model: Any) -> int:
    import torch

    with torch.inference_mode():
        size = model.visual.image_size
        size = size if isinstance(size, tuple) else (size, size)
        return int(model.encode_image(torch.zeros(1, 3, *size)).shape[-1])


def _stack(batches: list[torch.Tensor], dim: int) -> np.ndarray:
    import numpy as np
    import torch

    if not batches:
        return np.zeros((0, dim), dtype=np.float32)
    return torch.cat(batches).numpy().astype(np.float32)


def _open_rgb(image: Path | Image) -> Image:
    """RGB with transparency composited onto white (the training images were rendered so)."""
    from PIL import Image as PILImage

    img = PILImage.open(image) if isinstance(image, str | Path) else image
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = PILImage.new("RGBA", img.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


def make_image_text_embedder(settings: Settings) -> OpenClipEmbedder:
    """The configured image–text embedder (settings.embed.image_text_model)."""
    return OpenClipEmbedder.from_spec(settings.embed.image_text_model, settings)
