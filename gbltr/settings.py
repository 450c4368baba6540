"""Settings files and tables to frozen, typed configs: the parser, apart from what it builds.

Every configuration of gbltr (:class:`gbltr.config.FitConfig`, :class:`gbltr.labels.llm.config.AnnotateConfig`)
is a frozen dataclass built here from a plain table (a TOML/JSON file, CLI flags as a nested dict):

- :func:`read_config_file`: a file's table of settings (:func:`gbltr.inputs.read_document`);
- :func:`merge`: defaults < file < flags, table by table;
- :func:`build`: the typed config; unknown keys and wrong types are errors that name the key;
- :func:`to_jsonable`: back to a table (``config.json``).

Checks that concern what the user *wrote* (not the values) run on the raw table before
:func:`build`, in the loader of each config (e.g. :func:`gbltr.config.check_fusion_given`): the
built config holds values only, no parser flags.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

from gbltr.errors import ConfigError

__all__ = ["build", "coerce", "merge", "read_config_file", "to_jsonable"]


def to_jsonable(obj):
    """A (nested) dataclass as JSON-ready dicts and lists."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    return obj


def coerce(value, hint, where: str):
    """Convert a parsed TOML/JSON/CLI value to the annotated type, or raise ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], where)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table of settings, found {value!r}")
        return build(hint, value, where)
    if origin is tuple:
        if isinstance(value, str):  # "1,3,5" (a flag or an environment value): numbers in text
            value = [_parse_number(v.strip(), args[0], where) for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, found {value!r}")
        return tuple(coerce(v, args[0], where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, found {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, found {_shown(value)}")
    if hint in (int, float):
        # TOML/JSON true is not a number (Python's bool is an int); a string is not one either
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected {'an integer' if hint is int else 'a number'}, found {_shown(value)}")
        if hint is int:
            if isinstance(value, float):  # 3.0 or 1e12 is a number, not a count: write 3
                raise ConfigError(f"{where}: expected an integer, found {_shown(value)}")
            return value
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, found {_shown(value)}")
        return value
    return value


def _parse_number(text: str, hint, where: str):
    if hint not in (int, float):
        return text
    try:
        return hint(text)
    except ValueError:
        raise ConfigError(f"{where}: expected {'integers' if hint is int else 'numbers'}, found {text!r}") from None


def _shown(value) -> str:
    """A found value with its TOML/JSON type, e.g. ``true (a boolean)``, for errors."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             tuple: "a list", dict: "a table"}
    return f"{json.dumps(value, default=str) if not isinstance(value, float) else repr(value)} ({kinds.get(type(value), type(value).__name__)})"


def build(cls, data: dict, where: str = ""):
    """An instance of the frozen dataclass ``cls`` from the parsed settings ``data`` (nested tables
    for nested dataclasses): unknown keys are errors listing the known ones, values are coerced to
    the annotated types (:func:`coerce`), and ``cls.__post_init__`` checks the rest."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"[{where}] " if where else ""
        raise ConfigError(f"{prefix}unknown config key(s) {unknown}; known keys: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = coerce(value, hints[name], key)
    return cls(**kwargs)


def merge(base: dict, over: dict) -> dict:
    """``base`` with ``over`` on top, tables merged key by key (a new dict; neither is changed)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def read_config_file(path: str | Path) -> dict:
    """The settings table of a TOML (or ``.json``) config file: :func:`gbltr.inputs.read_document`."""
    from gbltr.inputs import read_document  # here: importing gbltr.config does not import Polars

    return read_document(path, "config file", "a table of settings ([train], [eval], ...)")


