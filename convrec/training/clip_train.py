"""Train or adapt a compact open_clip model on image–caption pairs with open_clip's ClipLoss."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from convrec.backends import clip_embedder as ce
from convrec.errors import InputError
from convrec.training import variants
from convrec.training.clip_eval import retrieval_report
from convrec.training.pairs import Pair

if TYPE_CHECKING:
    import torch

    from convrec.config import Settings

log = logging.getLogger(__name__)
STATE_FILE = "train_state.pt"


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "locked-text"  # see convrec.training.variants
    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    image_size: int = 48
    seed: int = 0
    init: str = ""  # "" trains from scratch; else convrec-clip, a local checkpoint or ARCH/TAG
    command: str = ""  # recorded in the checkpoint's config for the model card


@dataclass
class TrainResult:
    out_dir: Path
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def _load_images(pairs: list[Pair], preprocess: Any) -> torch.Tensor:
    import torch
    from PIL import Image

    tensors = []
    for p in tqdm(pairs, desc="load images", leave=False):
        with Image.open(p.image) as im:
            tensors.append(preprocess(ce._open_rgb(im)).to(torch.float16))
    return torch.stack(tensors)


def _init_model(cfg: TrainConfig, settings: Settings) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(model, preprocess, tokenizer, config-json) for a fresh variant or an initial checkpoint."""
    if cfg.init:
        emb = ce.OpenClipEmbedder.from_spec(cfg.init, settings)
        path = ce.SHIPPED_DIR if cfg.init == ce.SHIPPED_NAME else Path(cfg.init).expanduser()
        if path.is_dir() or path.is_file():
            config_path = (path if path.is_dir() else path.parent) / ce.CONFIG_FILE
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config.pop("convrec", None)
        else:  # a pretrained tag: record open_clip's own config for the export
            import open_clip

            config = {
                "model_cfg": open_clip.get_model_config(cfg.init.split("/", 1)[0]),
                "preprocess_cfg": dict(getattr(emb.model.visual, "preprocess_cfg", {})),
            }
        return emb.model, emb.preprocess, emb.tokenizer, config
    raw_cfg = variants.model_cfg(cfg.variant, cfg.image_size)
    model_cfg = ce.resolve_model_cfg(raw_cfg, settings)
    model = ce.build_open_clip(model_cfg, pretrained_text=True)
    pre = variants.preprocess_cfg(cfg.image_size)
    config = {"model_cfg": raw_cfg, "preprocess_cfg": pre}
    return model, ce.make_preprocess(pre), ce.make_tokenizer(model_cfg), config


def _is_locked(model: Any) -> bool:
    """A pretrained Hugging Face text tower stays frozen (locked-text tuning)."""
    from open_clip.hf_model import HFTextEncoder

    return isinstance(getattr(model, "text", None), HFTextEncoder)


def train_clip(
    pairs: list[Pair], out_dir: Path, cfg: TrainConfig, settings: Settings, resume: bool = False
) -> TrainResult:
    """Train with open_clip's ClipLoss; checkpoint every epoch to ``out_dir``; export the model.

    A frozen MiniLM text tower is run once over all captions and its features are cached, so only
    the image tower costs time. Deterministic for a given seed, data and thread count.
    """
    import torch
    from open_clip.loss import ClipLoss

    train = [p for p in pairs if p.split == "train"]
    held = [p for p in pairs if p.split == "heldout"]
    if not train:
        raise InputError("No training pairs (every pair is in the held-out split).")
    torch.manual_seed(cfg.seed)
    model, preprocess, tokenizer, config = _init_model(cfg, settings)
    locked = _is_locked(model)
    if locked:
        model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    images = _load_images(train, preprocess)
    text_tokens = tokenizer([p.caption for p in train])
    text_cache = _encode_texts(model, text_tokens) if locked else None

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0},
        ],
        lr=cfg.lr,
    )
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    start_epoch, losses = 0, []
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        state = torch.load(out_dir / STATE_FILE, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        start_epoch, losses = state["epoch"], state["losses"]
        log.info("resumed from %s at epoch %d", out_dir / STATE_FILE, start_epoch)
    loss_fn = ClipLoss()
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        if locked:
            model.text.eval()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(train), generator=gen)
        running = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
        for i in bar:
            step = epoch * steps_per_epoch + i
            for group in opt.param_groups:
                group["lr"] = _lr(step, total, cfg)
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = _augment(images[idx].float(), gen)
            img_f = model.encode_image(x, normalize=True)
            if text_cache is not None:
                txt_f = text_cache[idx]
            else:
                txt_f = model.encode_text(text_tokens[idx], normalize=True)
            loss = loss_fn(img_f, txt_f, model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            running += loss.item()
            bar.set_postfix(loss=f"{running / (i + 1):.3f}")
        losses.append(running / steps_per_epoch)
        log.info("epoch %d/%d loss %.4f", epoch + 1, cfg.epochs, losses[-1])
        state_dict = {
            k: v for k, v in model.state_dict().items() if not (locked and k.startswith("text."))
        }
        torch.save(
            {
                "model": state_dict,
                "optimizer": opt.state_dict(),
                "epoch": epoch + 1,
                "losses": losses,
            },
            out_dir / STATE_FILE,
        )
    result = TrainResult(out_dir, losses)
    if held:
        result.metrics = evaluate(model, preprocess, tokenizer, held)
    export(
        model,
        config,
        out_dir,
        locked,
        {
            "train": asdict(cfg),
            "losses": losses,
            "n_train": len(train),
            "n_heldout": len(held),
            "heldout": result.metrics,
        },
    )
    return result


def _encode_texts(model: Any, tokens: torch.Tensor, batch: int = 256) -> torch.Tensor:
    import torch

    model.text.eval()
    with torch.inference_mode():
        feats = [
            model.encode_text(tokens[i : i + batch], normalize=True)
            for i in tqdm(range(0, len(tokens), batch), desc="frozen text features", leave=False)
        ]
    return torch.cat(feats).clone()


def _lr(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * min(1.0, progress)))


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and a small random shift (padding with edge values)."""
    import torch

    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=gen))
    pad = torch.nn.functional.pad(x, (3, 3, 3, 3), mode="replicate")
    h, w = x.shape[-2:]
    return pad[..., 3 + dy : 3 + dy + h, 3 + dx : 3 + dx + w]


def evaluate(model: Any, preprocess: Any, tokenizer: Any, held: list[Pair]) -> dict[str, Any]:
    emb = ce.OpenClipEmbedder(model.eval(), preprocess, tokenizer, ce._output_dim(model))
    img = emb.encode_images([Path(p.image) for p in held])
    txt = emb.encode_texts([p.caption for p in held])
    return retrieval_report(img, txt, [p.caption for p in held], [p.source for p in held])


def export(
    model: Any, config: dict[str, Any], out_dir: Path, locked: bool, meta: dict[str, Any]
) -> None:
    """Write open_clip_config.json and fp16 safetensors (a frozen MiniLM tower is left out)."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().to("cpu").half().contiguous()
        for k, v in model.state_dict().items()
        if not (locked and k.startswith("text."))
    }
    save_file(state, str(out_dir / ce.WEIGHTS_FILE))
    config = {**config, "convrec": meta}
    (out_dir / ce.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    log.info("exported %s (%.1f MB)", out_dir, (out_dir / ce.WEIGHTS_FILE).stat().st_size / 1e6)
