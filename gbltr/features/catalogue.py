"""The declarative feature catalogue: names, groups and subgroups of every feature.

The catalogue lives in ``features/catalogue.toml`` (installed as package data ``gbltr.catalogue``).
It is the single list of features: :func:`gbltr.features.build.build_features` checks that the
columns it computes are exactly the catalogue's (minus features whose ``requires`` inputs are
absent), and ablation drops features by a group or subgroup name from it.

TOML layout::

    version = 1
    [groups.<group>]            description, subgroups = [...]
    [[feature]]                 name, group, subgroup, description [, requires = [...]]

``requires`` names inputs a feature cannot be computed without: optional documents columns
(``documents.inlinks``, ``documents.pagerank``, ``documents.domain``) or the ``query_stats`` table.

User catalogues (``--catalogue FILE``, the same TOML form) group a dataset's precomputed
columns (``features.parquet``) for ablation; :func:`load_user_catalogue` checks them against the
data: a column named but absent, or one column in two groups, is an error. Catalogues shipped
with gbltr live in ``features/catalogues/`` (package data ``gbltr.catalogue/catalogues``) and can
be named without a path: ``--catalogue letor4`` (:data:`PACKAGED`).
"""

from __future__ import annotations

import functools
import importlib.resources
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gbltr.errors import InputError, SchemaError, unknown_choice
from gbltr.inputs import read_document
from gbltr.schema import DOCUMENTS

_TOP_KEYS = {"version", "groups", "feature"}
_GROUP_KEYS = {"description", "subgroups"}
_FEATURE_KEYS = {"name", "group", "subgroup", "description", "requires"}
_FEATURE_REQUIRED = ("name", "group", "subgroup", "description")
#: Inputs a feature may require: the optional documents columns of the schema, and query_stats.
REQUIREMENTS = tuple(f"documents.{c}" for c in DOCUMENTS.optional) + ("query_stats",)


@dataclass(frozen=True)
class Feature:
    """One catalogued feature."""

    name: str
    group: str
    subgroup: str
    description: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """A top-level feature group and its subgroups (in catalogue order)."""

    name: str
    description: str
    subgroups: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    """The validated catalogue: groups and features, in file order."""

    groups: tuple[Group, ...]
    features: tuple[Feature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in catalogue order (= feature table column order)."""
        return tuple(f.name for f in self.features)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    @property
    def subgroup_names(self) -> tuple[str, ...]:
        return tuple(s for g in self.groups for s in g.subgroups)

    @property
    def selectors(self) -> tuple[str, ...]:
        """Every name :meth:`features_in` accepts: groups then subgroups."""
        return self.group_names + self.subgroup_names

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise unknown_choice("feature", name, self.names)

    def features_in(self, group_or_subgroup: str) -> tuple[Feature, ...]:
        """Features of a group (e.g. ``"document"``) or a subgroup (e.g. ``"bm25"``).

        Raises :class:`~gbltr.errors.ConfigError` listing the valid names for an unknown name.
        """
        if group_or_subgroup in self.group_names:
            return tuple(f for f in self.features if f.group == group_or_subgroup)
        if group_or_subgroup in self.subgroup_names:
            return tuple(f for f in self.features if f.subgroup == group_or_subgroup)
        raise unknown_choice("feature group or subgroup", group_or_subgroup, self.selectors)


def parse_catalogue(data: dict, *, where: str = "catalogue") -> Catalogue:
    """Validate a parsed catalogue TOML document and return it as a :class:`Catalogue`.

    Raises :class:`SchemaError` on unknown keys, missing keys, duplicate feature names, unknown
    groups or subgroups, subgroup names that repeat a group or another group's subgroup, features
    of an undeclared subgroup, and unknown ``requires`` entries.
    """
    _no_unknown(data, _TOP_KEYS, where)
    if data.get("version") != 1:
        raise SchemaError(f"{where}: expected version = 1, found {data.get('version')!r}")
    raw_groups = data.get("groups")
    if not isinstance(raw_groups, dict) or not raw_groups:
        raise SchemaError(f"{where}: expected a non-empty [groups.<name>] table, found {raw_groups!r}")
    groups = []
    seen_sub: dict[str, str] = {}
    for gname, g in raw_groups.items():
        gwhere = f"{where}: group {gname!r}"
        if not isinstance(g, dict):
            raise SchemaError(f"{gwhere}: expected a table, found {g!r}")
        _no_unknown(g, _GROUP_KEYS, gwhere)
        subs = g.get("subgroups")
        if not isinstance(subs, list) or not subs or not all(isinstance(s, str) for s in subs):
            raise SchemaError(f"{gwhere}: expected subgroups = a non-empty list of names, found {subs!r}")
        for s in subs:
            if s in raw_groups or s in seen_sub:
                other = "a group" if s in raw_groups else f"a subgroup of {seen_sub[s]!r}"
                raise SchemaError(
                    f"{gwhere}: subgroup {s!r} is already {other}; expected unique subgroup names "
                    "(ablation selects by name)"
                )
            seen_sub[s] = gname
        groups.append(Group(gname, str(g.get("description", "")), tuple(subs)))

    raw_features = data.get("feature")
    if not isinstance(raw_features, list) or not raw_features:
        raise SchemaError(f"{where}: expected at least one [[feature]] entry, found none")
    features = []
    names: set[str] = set()
    for i, f in enumerate(raw_features):
        fwhere = f"{where}: feature #{i + 1} ({f.get('name', '?')!r})"
        _no_unknown(f, _FEATURE_KEYS, fwhere)
        missing = [k for k in _FEATURE_REQUIRED if not isinstance(f.get(k), str) or not f.get(k)]
        if missing:
            raise SchemaError(f"{fwhere}: missing or empty key(s) {missing}; expected {list(_FEATURE_REQUIRED)}")
        if f["name"] in names:
            raise SchemaError(f"{fwhere}: duplicate feature name {f['name']!r}; expected each name once")
        names.add(f["name"])
        if f["group"] not in raw_groups:
            raise SchemaError(
                f"{fwhere}: unknown group {f['group']!r}; expected one of {list(raw_groups)}"
            )
        if seen_sub.get(f["subgroup"]) != f["group"]:
            valid = [s for s, g in seen_sub.items() if g == f["group"]]
            raise SchemaError(
                f"{fwhere}: subgroup {f['subgroup']!r} is not declared in group {f['group']!r}; "
                f"expected one of {valid} (or declare it in [groups.{f['group']}] subgroups)"
            )
        requires = f.get("requires", [])
        if not isinstance(requires, list) or any(r not in REQUIREMENTS for r in requires):
            raise SchemaError(
                f"{fwhere}: requires = {requires!r}; expected a list drawn from {list(REQUIREMENTS)}"
            )
        features.append(Feature(f["name"], f["group"], f["subgroup"], f["description"], tuple(requires)))
    return Catalogue(tuple(groups), tuple(features))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue TOML file; ``None`` = the packaged ``gbltr.catalogue``."""
    if path is None:
        return _default_catalogue()
    path = Path(path)
    data = read_document(path, "feature catalogue", CATALOGUE_EXPECTED, fmt="toml")
    return parse_catalogue(data, where=f"feature catalogue {path}")


@functools.lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    resource = importlib.resources.files("gbltr.catalogue") / "catalogue.toml"
    data = tomllib.loads(resource.read_text(encoding="utf-8"))
    return parse_catalogue(data, where="packaged feature catalogue gbltr.catalogue/catalogue.toml")


CATALOGUE_EXPECTED = "version, [groups.NAME] tables and [[feature]] tables (name, group, subgroup, description)"

PACKAGED = ("letor4",)
"""Catalogues shipped in ``features/catalogues/``, loadable by name."""


def read_user_catalogue(path: str | Path) -> Catalogue:
    """A user's catalogue of precomputed columns: a TOML file, or a :data:`PACKAGED` name, read
    and parsed (:class:`InputError` or :class:`SchemaError`; a column in two groups names both).
    Its columns are checked against the data by :func:`load_user_catalogue`."""
    data, where = _user_catalogue_document(path)
    seen: dict[str, str] = {}
    for f in data.get("feature", []) if isinstance(data.get("feature"), list) else []:
        if not isinstance(f, dict):
            raise SchemaError(f"{where}: expected [[feature]] tables, found {f!r}")
        name, group = f.get("name"), f"{f.get('group')}/{f.get('subgroup')}"
        if name in seen:
            raise SchemaError(f"{where}: column {name!r} is in two groups, {seen[name]} and {group}; "
                              "expected each column in one group")
        seen[name] = group
    return parse_catalogue(data, where=where)


def _user_catalogue_document(path: str | Path) -> tuple[dict, str]:
    p = Path(path)
    if str(path) in PACKAGED and not p.exists():
        text = (importlib.resources.files("gbltr.catalogue") / "catalogues" / f"{path}.toml").read_text(encoding="utf-8")
        return tomllib.loads(text), f"packaged feature catalogue {path}"
    if not p.exists():
        raise InputError(f"feature catalogue {str(path)!r}: expected a TOML file or one of the packaged names "
                         f"{list(PACKAGED)}, found no such file")
    return read_document(p, "feature catalogue", CATALOGUE_EXPECTED, fmt="toml"), f"feature catalogue {p}"


def load_user_catalogue(path: str | Path, columns) -> Catalogue:
    """A catalogue for precomputed ``columns`` (:func:`read_user_catalogue`).

    Raises :class:`SchemaError` when a column appears in two groups (naming both) or when the
    catalogue names columns the data does not have (listing them and the data's columns).
    """
    return check_catalogue_columns(read_user_catalogue(path), path, columns)


def check_catalogue_columns(cat: Catalogue, path: str | Path, columns) -> Catalogue:
    """``cat`` (read from ``path``) if every column it names is among ``columns``, else :class:`SchemaError`."""
    where = (f"packaged feature catalogue {path}" if str(path) in PACKAGED and not Path(path).exists()
             else f"feature catalogue {Path(path)}")
    absent = [n for n in cat.names if n not in set(columns)]
    if absent:
        raise SchemaError(f"{where}: names column(s) {absent[:10]}{' ...' if len(absent) > 10 else ''} absent from "
                          f"the data's precomputed features; found {list(columns)[:10]}{' ...' if len(columns) > 10 else ''}")
    return cat


def features_in(group_or_subgroup: str) -> tuple[Feature, ...]:
    """Features of the packaged catalogue in a group or subgroup (see :meth:`Catalogue.features_in`)."""
    return _default_catalogue().features_in(group_or_subgroup)


def groups() -> tuple[str, ...]:
    """Group and subgroup names of the packaged catalogue (the choices ablation accepts)."""
    return _default_catalogue().selectors


def _no_unknown(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {unknown}; expected only {sorted(allowed)}")
