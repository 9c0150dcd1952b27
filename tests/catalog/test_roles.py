"""Attribute roles: declared once in the catalog's mapping (builders, `convrec catalog load
--role`), read by every stage; by attribute name where a catalog declares none."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from convrec.catalog.layout import open_catalog
from convrec.catalog.schema import DEFAULT_ROLES, AttributeRoles
from convrec.cli import main
from convrec.config import Settings
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.policy import Policy
from convrec.dialogue.understand import attribute_lines
from convrec.errors import CatalogError
from convrec.explain.claims import GroundingChecker
from convrec.explain.explanations import facts

BOOKS = [
    {"id": "b1", "title": "The Long Road", "author": "Ursula Quill", "isbn": "978-1",
     "shelf": "Fantasy", "pages": 320},
    {"id": "b2", "title": "Salt and Stone", "author": "Ursula Quill", "isbn": "978-2",
     "shelf": "Fantasy", "pages": 280},
    {"id": "b3", "title": "Night Harbour", "author": "Tomas Vell", "isbn": "978-3",
     "shelf": "Crime", "pages": 410},
]  # fmt: skip


def load_books(tmp_path: Path, *roles: str) -> Path:
    src = tmp_path / "books.csv"
    pd.DataFrame(BOOKS).to_csv(src, index=False)
    out = tmp_path / "books"
    attrs = ["--attr", "author:str", "--attr", "isbn:str", "--attr", "shelf:str",
             "--attr", "pages:int"]  # fmt: skip
    args = ["catalog", "load", str(src), "--out", str(out), *attrs]
    for role in roles:
        args += ["--role", role]
    assert main(args) == 0
    return out


def test_roles_declared_at_load_reach_every_stage(tmp_path: Path) -> None:
    out = load_books(tmp_path, "person=author", "hidden=isbn", "unread=isbn",
                     "never_ask=isbn,pages", "genre=shelf")  # fmt: skip
    manifest = json.loads((out / "catalog.json").read_text())
    assert manifest["mapping"]["roles"]["person"] == ["author"]
    catalog = open_catalog(out, Settings())
    roles = catalog.roles
    assert roles.person == ("author",) and roles.genre == ("shelf",)
    assert roles.hidden == {"isbn"} and roles.never_ask == {"isbn", "pages"}

    lex = Lexicon.from_catalog(catalog)  # understanding: the author is a person, isbn unread
    assert lex.person_attrs == ("author",)
    assert "author: names of people" in attribute_lines(lex)
    assert not any(r.attribute == "isbn" for refs in lex.values.values() for r in refs)
    policy = Policy.from_settings(Settings(), roles)  # the policy never asks about them
    assert {"isbn", "pages", "title"} <= policy.skip and "author" not in policy.skip
    checker = GroundingChecker(catalog.items, roles)  # explanations: people and kinds checked
    assert checker.people == {"Ursula Quill", "Tomas Vell"}
    assert checker.problems("A crime story by Tomas Vell.", catalog["b1"]) == [
        "genre Crime",
        "person Tomas Vell",
    ]
    assert "isbn" not in facts(catalog["b1"], roles.hidden)


def test_without_declared_roles_the_names_decide(tmp_path: Path) -> None:
    catalog = open_catalog(load_books(tmp_path), Settings())
    assert catalog.roles == AttributeRoles.inferred({"author", "isbn", "shelf", "pages"})
    assert catalog.roles.person == ("author",)  # "author" is a person by name
    assert catalog.roles.genre == () and "author" in DEFAULT_ROLES["person"]


def test_bad_roles_fail_with_the_fix(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(CatalogError, match=r"Unknown attribute role.*Fix: use person, genre"):
        AttributeRoles.from_dict({"people": ["author"]})
    with pytest.raises(CatalogError, match="must list attribute names"):
        AttributeRoles.from_dict({"person": "author"})
    src = tmp_path / "books.csv"
    pd.DataFrame(BOOKS).to_csv(src, index=False)
    args = ["catalog", "load", str(src), "--out", str(tmp_path / "b"), "--attr", "author:str"]
    assert main([*args, "--role", "person"]) == 2
    assert "is not ROLE=ATTR" in caplog.text
    caplog.clear()
    assert main([*args, "--role", "persons=author"]) == 2
    assert "Unknown attribute role" in caplog.text
    caplog.clear()
    assert main([*args, "--role", "person=auther"]) == 2
    assert "no item has: auther" in caplog.text
    caplog.clear()
    assert not (tmp_path / "b").exists()


def test_the_shipped_builders_declare_what_the_names_gave() -> None:
    from convrec.catalog import movies, phones

    for module in (movies, phones):
        declared = AttributeRoles.from_dict(module.ROLES)
        assert declared == AttributeRoles.inferred(
            {a for names in module.ROLES.values() for a in names}
        )
