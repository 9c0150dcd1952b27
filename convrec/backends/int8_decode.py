"""Int8 copies of a model's linear weights for the one-token steps of decoding, on a CPU.

Decoding one token reads every weight once for a single row of activations, so on a CPU its speed
is the speed of reading the weights from memory. An int8 copy (one scale per output row) is a
quarter of float32's bytes and half of bfloat16's, and torch's ``_weight_int8pack_mm`` kernel
multiplies a bfloat16 row by it directly: on the 2-core machine a decoding step of the 0.5B model
took 125 ms in float32 and 73 ms with the copies (eval/bench_turn.py measures the turn).

Prefill reads many positions at once, where that kernel is many times slower than the dense
product, so prompts keep the original weights: their keys and values are exactly those of the
unmodified model. Decoding a small batch (one position per sequence) uses the copies too, so a
batched answer is the answer the same chat gets alone. The copies cost one byte
per weight of extra memory (about 0.5 GB for the 0.5B model). torchao's int8 weight-only
quantization uses the same kernel but replaces the weights, slowing prefill about fourfold here.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

# Decoding steps of at most this many sequences at once (a batch of explanations) use the copies;
# at 5 rows the kernel is still as fast as the dense product, at 64 five times slower.
MAX_ROWS = 8


class Int8DecodeLinear(nn.Module):
    """A linear layer that multiplies a decoding step (one new position for each of at most
    ``MAX_ROWS`` sequences) by an int8 copy of its weight, and anything else (a prompt) by the
    original weight, which it keeps (tied weights stay tied)."""

    qweight: torch.Tensor
    scale: torch.Tensor

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        quantized = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("qweight", quantized.contiguous(), persistent=False)
        self.register_buffer("scale", scale.to(torch.bfloat16), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[-2] != 1 or x.numel() > MAX_ROWS * x.shape[-1]:
            return self.linear(x)  # a prompt (many positions) or a large batch: original weight
        rows = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        y = torch._weight_int8pack_mm(rows, self.qweight, self.scale)
        y = y.to(x.dtype).reshape(*x.shape[:-1], -1)
        return y if self.linear.bias is None else y + self.linear.bias


def supported(model: Any) -> bool:
    """Whether this torch has the kernel and the model runs on the CPU."""
    if not hasattr(torch, "_weight_int8pack_mm"):
        return False
    try:
        return next(model.parameters()).device.type == "cpu"
    except StopIteration:
        return False


def add_int8_decode(model: nn.Module) -> int:
    """Wrap every ``nn.Linear`` of ``model`` (in place) in :class:`Int8DecodeLinear`; returns how
    many were wrapped."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, Int8DecodeLinear(child))
                count += 1
    log.debug("int8 decoding copies for %d linear layers", count)
    return count


__all__ = ["Int8DecodeLinear", "add_int8_decode", "supported"]
