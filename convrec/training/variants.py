"""The two compact open_clip architectures compared for the offline default image–text model."""

from __future__ import annotations

from typing import Any

VARIANTS = ("locked-text", "scratch")
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def vision_cfg(image_size: int) -> dict[str, Any]:
    # open_clip's ModifiedResNet (the CLIP RN50 family) at 1/2 width and one block per stage:
    # a small conv net learns far better than a ViT from ~10k images.
    return {"image_size": image_size, "layers": [1, 1, 1, 1], "width": 32, "patch_size": None}


def model_cfg(variant: str, image_size: int = 48) -> dict[str, Any]:
    """open_clip ``model_cfg`` for a variant.

    locked-text: a CustomTextCLIP whose text tower is the frozen all-MiniLM-L6-v2 (mean pooling,
    no projection), so texts land in the sentence-transformers space and only the image tower is
    trained. scratch: a plain CLIP with a small text transformer on open_clip's BPE tokenizer.
    """
    if variant == "locked-text":
        return {
            "embed_dim": 384,
            "vision_cfg": vision_cfg(image_size),
            "text_cfg": {
                "hf_model_name": MINILM_ID,
                "hf_tokenizer_name": MINILM_ID,
                "hf_pooler_type": "mean_pooler",
                "hf_proj_type": None,
                "context_length": 64,
            },
        }
    if variant == "scratch":
        return {
            "embed_dim": 256,
            "vision_cfg": vision_cfg(image_size),
            "text_cfg": {
                "context_length": 32,
                "vocab_size": 49408,
                "width": 128,
                "heads": 4,
                "layers": 3,
            },
        }
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


def preprocess_cfg(image_size: int) -> dict[str, Any]:
    # Letterbox onto white ("longest" + fill 255): phone photos are tall, and training images were
    # rendered onto white, so cropping or black padding would both shift the distribution.
    return {
        "size": image_size,
        "mode": "RGB",
        "mean": OPENAI_MEAN,
        "std": OPENAI_STD,
        "interpolation": "bicubic",
        "resize_mode": "longest",
        "fill_color": 255,
    }
