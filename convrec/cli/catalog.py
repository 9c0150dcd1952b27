"""`convrec catalog build|load|info`: build shipped catalogs, load a user file, show a manifest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from convrec.errors import CatalogError, InputError


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def register(sub: Any) -> None:
    parser = sub.add_parser("catalog", help="build, load or inspect catalogs")
    cmds = parser.add_subparsers(dest="catalog_command", required=True)

    build = cmds.add_parser(
        "build", help="build a shipped catalog (phones, movies) from registries"
    )
    build.add_argument("name", choices=("phones", "movies"))
    build.add_argument("--force", action="store_true", help="rebuild even if inputs are unchanged")
    build.set_defaults(func=cmd_build)

    load = cmds.add_parser(
        "load",
        help="load a JSONL/CSV/Parquet file into a catalog directory",
        description="Exit status: 0 loaded cleanly, 1 loaded with problems (listed), 2 error.",
    )
    load.add_argument("file", type=Path)
    load.add_argument("--out", type=Path, required=True, help="catalog directory to write")
    mapping_help = (
        "mapping.json (keys: id, title, description, category, price, popularity, date, "
        "image_paths, attributes{column: type}, roles{role: [attribute, ...]})"
    )
    load.add_argument("--mapping", type=Path, help=mapping_help)
    for field in ("id", "title", "description", "category", "price", "popularity", "date"):
        load.add_argument(f"--{field}-field", dest=f"{field}_field", help=f"column of the {field}")
    load.add_argument("--images-field", dest="image_paths_field", help="column of image paths")
    attr_help = "an attribute column and its type (str, int, float, bool, list[str])"
    load.add_argument("--attr", action="append", default=[], metavar="COLUMN:TYPE", help=attr_help)
    role_help = (
        "attributes that play a role, e.g. person=director,cast (roles: person, genre, hidden, "
        "unread, never_ask, unlisted, derived; default: by attribute name)"
    )
    load.add_argument(
        "--role", action="append", default=[], metavar="ROLE=ATTR,...", help=role_help
    )
    load.add_argument("--images-root", type=Path, help="base folder of relative image paths")
    load.add_argument(
        "--from-photos",
        action="store_true",
        help="derive each item's body colour and form factor from its first photo (products on "
        "a plain background); stored as attributes with a confidence, read as soft preferences",
    )
    load.add_argument("--name", help="catalog name (default: the --out folder name)")
    load.add_argument(
        "--interactions",
        type=Path,
        metavar="FILE",
        help="user-item interactions (JSONL/CSV/Parquet: user, item and rating or count columns) "
        "for the collaborative model; written as interactions.parquet",
    )
    load.add_argument(
        "--interaction-columns",
        default="",
        metavar="ROLE=COLUMN,...",
        help="columns of --interactions when not user/item/rating|count, "
        "e.g. user=uid,item=sku,count=plays",
    )
    load.set_defaults(func=cmd_load)

    info = cmds.add_parser("info", help="print the manifest summary of a built catalog")
    info.add_argument("name", help="phones, movies or a catalog directory")
    info.set_defaults(func=cmd_info)


def _settings(args: argparse.Namespace) -> Any:
    from convrec.config import load_settings

    return load_settings(args.config)


def cmd_build(args: argparse.Namespace) -> int:
    from convrec.catalog.build import build_catalog

    result = build_catalog(args.name, _settings(args), force=args.force)
    state = "up to date, nothing to do" if result.skipped else f"built in {result.seconds:.1f} s"
    _out(f"catalog {args.name}: {len(result.catalog)} items at {result.catalog.root} ({state})")
    _summary(result.catalog.manifest)
    return 0


def _mapping(args: argparse.Namespace) -> Any:
    from convrec.catalog.schema import FieldMapping

    data: dict[str, Any] = {}
    if args.mapping:
        try:
            data = json.loads(args.mapping.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(
                f"Cannot read mapping {args.mapping} ({e}). Fix: give a JSON object."
            ) from e
    for field in ("id", "title", "description", "category", "price", "popularity", "date",
                  "image_paths"):  # fmt: skip
        value = getattr(args, f"{field}_field", None)
        if value:
            data[field] = value
    attrs = dict(data.get("attributes", {}))
    for spec in args.attr:
        column, sep, kind = spec.rpartition(":")
        if not sep or not column:
            raise InputError(
                f"--attr {spec!r} is not COLUMN:TYPE. Fix: e.g. --attr genres:list[str]"
            )
        attrs[column] = kind
    data["attributes"] = attrs
    roles = dict(data.get("roles", {}))
    for spec in args.role:
        role, sep, names = spec.partition("=")
        if not sep or not role.strip():
            raise InputError(
                f"--role {spec!r} is not ROLE=ATTR,... Fix: e.g. --role person=director,cast"
            )
        roles[role.strip()] = [n.strip() for n in names.split(",") if n.strip()]
    data["roles"] = roles
    return FieldMapping.from_dict(data)


def cmd_load(args: argparse.Namespace) -> int:
    from convrec.catalog.layout import write_catalog
    from convrec.catalog.loaders import load_items

    mapping = _mapping(args)
    report = load_items(args.file, mapping, images_root=args.images_root)
    for problem in report.problems:
        _out(f"  {args.file.name}: {problem}")
    _out(report.summary())
    if not report.items:
        raise CatalogError(f"No item in {args.file} could be loaded. Fix: see the problems above.")
    have = {a for it in report.items for a in it.attributes}
    named = {a for names in mapping.roles.values() for a in names}
    if named - have:
        raise CatalogError(
            f"Roles name attribute(s) no item has: {', '.join(sorted(named - have))}. Fix: name "
            f"attributes of the catalog ({', '.join(sorted(have)) or 'none loaded'})."
        )
    manifest: dict[str, Any] = {
        "name": args.name or args.out.name,
        "sources": [{"file": str(args.file.resolve())}],
        "mapping": mapping.to_dict(),
        "counts": {
            "rows": report.rows,
            "rejected_rows": len(report.rejected),
            "problems": len(report.problems),
        },
    }
    items = list(report.items)
    if args.from_photos:
        from convrec.catalog import visual
        from convrec.catalog.schema import AttributeRoles

        items = visual.derive(items, lambda it: Path(it.image_paths[0]) if it.image_paths else None)
        declared = mapping.roles or AttributeRoles.inferred(have).to_dict()
        manifest["roles"] = visual.with_roles(declared)
        manifest["derived"] = visual.summary(items)
    extras, bad_interactions = _interactions(args, {it.id for it in items}, manifest)
    catalog = write_catalog(args.out, items, manifest, extras=extras)
    _out(f"wrote catalog {catalog.name!r}: {len(catalog)} items to {catalog.root}")
    return 1 if report.problems or bad_interactions else 0


def _interactions(
    args: argparse.Namespace, ids: set[str], manifest: dict[str, Any]
) -> tuple[Any, bool]:
    """Load --interactions against the loaded item ids: (the catalog writer's extras callback or
    None, whether there were problems). Adds their source and counts to ``manifest``."""
    if args.interactions is None:
        if args.interaction_columns:
            raise InputError("--interaction-columns needs --interactions FILE.")
        return None, False
    from convrec.catalog.interactions import (
        INTERACTIONS_FILE,
        InteractionMapping,
        load_interactions,
        write_interactions,
    )

    columns = InteractionMapping.parse(args.interaction_columns)
    loaded = load_interactions(args.interactions, ids, columns)
    for problem in loaded.problems:
        _out(f"  {args.interactions.name}: {problem}")
    _out(loaded.summary())
    if not len(loaded.table):
        raise CatalogError(
            f"No interaction in {args.interactions} could be loaded. Fix: see the problems above."
        )
    manifest["sources"].append({"file": str(args.interactions.resolve()), "role": "interactions"})
    manifest["counts"].update(
        interactions=len(loaded.table),
        interaction_users=int(loaded.table["user"].nunique()),
        interaction_rows_rejected=len(loaded.rejected),
        interaction_rows_unknown_item=loaded.unknown_item_rows,
    )
    manifest["files"] = {INTERACTIONS_FILE: f"user, item, value ({loaded.kind})"}
    return (lambda root: write_interactions(root, loaded)), bool(loaded.problems)


def cmd_info(args: argparse.Namespace) -> int:
    from convrec.catalog.layout import SHIPPED, catalog_dir, read_manifest

    root = catalog_dir(args.name, _settings(args))
    manifest = read_manifest(root)
    if manifest is None:
        fix = (
            f"convrec catalog build {args.name}" if args.name in SHIPPED else "convrec catalog load"
        )
        raise CatalogError(f"No built catalog at {root}. Fix: run `{fix}`.")
    _out(f"catalog {manifest.get('name')} at {root} (built {manifest.get('built_at', '?')})")
    _summary(manifest)
    return 0


def _summary(m: Any) -> None:
    counts = m.get("counts", {})
    _out("  counts: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    for src in m.get("sources", []):
        if "package" in src:
            _out(
                f"  source: {src['registry']} {src['package']}=={src['version']} ({src['license']})"
            )
        else:
            _out(f"  source: {src.get('file')}")
    cov = m.get("join_coverage")
    if cov:
        _out(f"  join coverage of {cov['items']} movies: Wikidata {cov['wikidata']} "
             f"({cov['wikidata_pct']}%), TMDB {cov['tmdb']} ({cov['tmdb_pct']}%), "
             f"either {cov['either']}")  # fmt: skip
    attrs = m.get("attributes", {})
    _out("  attributes: " + ", ".join(f"{k}:{v}" for k, v in attrs.items()))
