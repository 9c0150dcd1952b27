"""Model provisioning: packaged names, local directories and hub ids, cached and verified offline.

Register another packaged model (e.g. an image–text checkpoint built here) with
``register(BuiltSpec(name, description, build=fn, role="image-text"))``.
"""

from convrec.models.registry import (
    BuiltSpec,
    DirSource,
    GGUFSpec,
    ModelSpec,
    Wheel,
    WheelDirSpec,
    register,
)
from convrec.models.resolve import ModelRef, ModelStatus, ensure, resolve, status

__all__ = [
    "BuiltSpec",
    "DirSource",
    "GGUFSpec",
    "ModelRef",
    "ModelSpec",
    "ModelStatus",
    "Wheel",
    "WheelDirSpec",
    "ensure",
    "register",
    "resolve",
    "status",
]
