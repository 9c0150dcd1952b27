"""The rules of the house (README, "Where things live"), checked from the code's imports: every
import counts, including those inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("convrec.dialogue", "convrec.ranking", "convrec.explain")
WIRING = ("convrec.engine", "convrec.wiring", "convrec.cli", "convrec.evaluation")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def graph(folder: str) -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted((ROOT / folder).rglob("*.py"))}


CODE = graph("convrec")


def broken(
    who: tuple[str, ...], forbidden: tuple[str, ...], code: dict[str, set[str]] = CODE
) -> list[str]:
    return sorted(
        f"{m} imports {i}"
        for m, deps in code.items()
        if under(m, who)
        for i in deps
        if under(i, forbidden)
    )


def test_the_rooms_exist_and_the_facade_is_small() -> None:
    for room in ("dialogue", "ranking", "explain"):
        assert (ROOT / "convrec" / room / "__init__.py").is_file()
    assert not (ROOT / "convrec" / "convrec.py").exists()
    assert len((ROOT / "convrec" / "engine.py").read_text().splitlines()) < 650


def test_stages_never_import_the_facades_the_wiring_or_the_backends() -> None:
    assert broken(STAGES, (*WIRING, "convrec.backends")) == []


def test_dialogue_never_imports_ranking_or_explain() -> None:
    assert broken(("convrec.dialogue",), ("convrec.ranking", "convrec.explain")) == []


def test_backends_never_import_stages_or_facades() -> None:
    assert broken(("convrec.backends",), (*STAGES, *WIRING)) == []


def test_nothing_in_the_package_imports_app_or_eval() -> None:
    assert [f"{m} imports {i}" for m, deps in CODE.items() for i in deps
            if under(i, ("app", "eval", "tests"))] == []  # fmt: skip


def test_the_app_uses_the_public_api_only() -> None:
    import convrec

    public = {"convrec"} | {f"convrec.{name}" for name in convrec.__all__}
    used = {i for deps in graph("app").values() for i in deps if under(i, ("convrec",))}
    assert used and used <= public, sorted(used - public)


def test_the_checker_sees_a_broken_rule() -> None:
    fake = {"convrec.ranking.x": {"convrec.engine"}, "convrec.backends.y": {"convrec.dialogue.a"}}
    assert broken(STAGES, WIRING, fake) == ["convrec.ranking.x imports convrec.engine"]
    assert broken(("convrec.backends",), STAGES, fake) == [
        "convrec.backends.y imports convrec.dialogue.a"
    ]
