"""The wheel works outside the checkout: built from this tree, installed into a fresh venv (its
dependencies borrowed from the test venv, so nothing is downloaded), then `convrec models
fetch`, `convrec catalog load`, `convrec index`, `convrec chat` and `convrec app` run from an
empty folder with the test model."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from conftest import SHARED_CACHE, TEST_LLM
from kit import ROOT, free_port

BOOKS = """id,title,description,shelf,author
b1,The Long Road,A young mapmaker crosses a haunted kingdom.,Fantasy,Ursula Quill
b2,Salt and Stone,Two sisters rebuild a drowned city with old magic.,Fantasy,Ursula Quill
b3,Night Harbour,A detective hunts a smuggler through a foggy port.,Crime,Tomas Vell
b4,The Glass Ledger,An accountant uncovers a murder in the books.,Crime,Tomas Vell
b5,Orchard Days,A gentle story of a family farm over one summer.,Literary,Mara Finch
"""


def test_the_wheel_lists_every_package() -> None:
    """pyproject.toml lists the packages by hand (to map prompts/ and app/ into the wheel);
    a new folder of code must be added there."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "convrec").rglob("__init__.py")
    }
    assert listed - found == {"convrec._shipped.prompts", "convrec._shipped.app"}
    assert found <= listed, sorted(found - listed)
    assert config["package-dir"] == {
        "convrec._shipped.prompts": "prompts",
        "convrec._shipped.app": "app",
    }


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel of this tree; the test venv lends its dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    run = {"check": True, "capture_output": True, "text": True, "cwd": work}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", str(work / "dist"), str(ROOT)], **run)  # fmt: skip
    (wheel,) = (work / "dist").glob("convrec-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **run)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", str(wheel)], **run)  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **run
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("wheel-cache")
    keep = {k: v for k, v in os.environ.items() if not k.startswith("CONVREC_")}
    return {
        **keep,
        "HF_HUB_OFFLINE": "1",
        "CONVREC_CACHE_DIR": str(cache),
        "CONVREC_MODELS_DIR": str(SHARED_CACHE / "models"),
        "CONVREC_DOWNLOADS_DIR": str(SHARED_CACHE / "downloads"),
        "CONVREC_LLM__MODEL": TEST_LLM,
        "CONVREC_LLM__MAX_NEW_TOKENS": "32",
    }


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty working folder, far from the checkout."""
    return tmp_path_factory.mktemp("elsewhere")


def cli(venv: Path, env: dict[str, str], cwd: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run([str(venv / "bin" / "convrec"), *args], input=stdin, env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def books(venv: Path, env: dict[str, str], outside: Path) -> Path:
    (outside / "books.csv").write_text(BOOKS)
    out = outside / "books"
    cli(venv, env, outside, "catalog", "load", "books.csv", "--out", str(out),
        "--attr", "shelf:str", "--attr", "author:str")  # fmt: skip
    cli(venv, env, outside, "index", str(out))
    return out


def test_the_installed_package_is_the_wheel_with_its_prompts_and_app(
    venv: Path, env: dict[str, str], outside: Path
) -> None:
    code = (
        "import convrec, convrec.prompts as p, convrec.cli.search_app as a;"
        "print(convrec.__file__); print(p.PROMPTS_DIR); print(a.APP_DIR);"
        "print(len(p.render('understand', **p.example('understand'))))"
    )
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=env, cwd=outside,
                          capture_output=True, text=True, check=True)  # fmt: skip
    package, prompts, app, messages = done.stdout.split()
    assert Path(package).is_relative_to(venv) and not Path(package).is_relative_to(ROOT)
    assert Path(prompts) == Path(package).parent / "_shipped" / "prompts"
    assert Path(app, "chat_app.py").is_file() and Path(app).is_relative_to(venv)
    assert int(messages) >= 2


def test_models_fetch_catalog_index_and_chat_outside_the_checkout(
    venv: Path, env: dict[str, str], outside: Path, books: Path
) -> None:
    out = cli(venv, env, outside, "models", "fetch", TEST_LLM)
    assert TEST_LLM in out
    said = cli(venv, env, outside, "chat", "--catalog", str(books),
               stdin="a crime novel, just show me\n/quit\n")  # fmt: skip
    assert "Night Harbour" in said or "The Glass Ledger" in said, said
    assert "Traceback" not in said


def test_the_app_starts_outside_the_checkout(
    venv: Path, env: dict[str, str], outside: Path, books: Path
) -> None:
    port = free_port()
    log = (outside / "app.log").open("w")
    proc = subprocess.Popen([str(venv / "bin" / "convrec"), "app", "--catalog", str(books),
                             "--port", str(port)], env=env, cwd=outside, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        page = _wait_for_page(f"http://127.0.0.1:{port}/", proc, outside / "app.log")
        assert "convrec" in page
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_for_page(url: str, proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"convrec app exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            time.sleep(1)
    pytest.fail(f"convrec app did not answer in 300 s: {log.read_text()}")
