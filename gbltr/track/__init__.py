"""MLflow tracking and registry (the optional extra ``gbltr[mlflow]``, imported only when used).

What a command tracks, and where, is a :class:`TrackingConfig`, resolved once by
:func:`tracking_config` from, in order of precedence:

1. the CLI: ``--mlflow [URI]`` (on ``fit``, ``experiment``, ``ablation`` and ``compare``),
   ``--mlflow-optional`` and ``--register NAME``;
2. the ``[mlflow]`` table of the ``--config`` file (``uri``, ``optional``, ``register``,
   ``experiment``); its presence turns tracking on;
3. the standard ``MLFLOW_TRACKING_URI`` environment variable (the URI only: it does not by
   itself turn tracking on);
4. the embedded local store :data:`DEFAULT_STORE` (SQLite in the working folder, artefacts in
   ``./mlruns``).

Tracking is not part of a run's result: the ``[mlflow]`` table is not a :class:`gbltr.config.FitConfig`
section and is not written to ``config.json``. Credentials in a tracking URI
(``https://user:secret@host``) are never written anywhere: every message, tag and parameter shows
the URI through :func:`redact`.

The modules below import MLflow lazily: :mod:`gbltr.track.runs` (log runs: fit, experiment,
ablation, compare) and :mod:`gbltr.track.registry` (load ``models:/NAME/VERSION`` for rerank,
export and compare).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gbltr.errors import ConfigError

DEFAULT_STORE = "sqlite:///mlflow.db"
"""The embedded local store used when no URI is given anywhere (a SQLite file in the working folder)."""
DEFAULT_EXPERIMENT = "gbltr"
"""The MLflow experiment runs are logged to unless ``[mlflow] experiment`` names another."""
MODEL_URI_PREFIX = "models:/"
INSTALL_HINT = "pip install 'gbltr[mlflow]'"
SECRET_QUERY_KEYS = ("token", "password", "secret", "key", "sig", "signature", "credential")
"""Query parameters of a URI whose value :func:`redact` hides (a substring of the name, any case)."""


@dataclass(frozen=True)
class TrackingConfig:
    """Where and how a command logs to MLflow.

    ``uri``: the tracking URI (None: :data:`DEFAULT_STORE`, or ``MLFLOW_TRACKING_URI``, as
    resolved by :func:`tracking_config`); ``optional``: an unreachable server is a warning, not
    an error; ``register``: the registered model name ``fit`` registers its model under;
    ``experiment``: the MLflow experiment name."""

    uri: str
    optional: bool = False
    register: str | None = None
    experiment: str = DEFAULT_EXPERIMENT

    @property
    def shown_uri(self) -> str:
        """The URI as messages show it (:func:`redact`)."""
        return redact(self.uri)


TABLE_KEYS = {"uri": str, "optional": bool, "register": str, "experiment": str}
"""The keys of a config file's ``[mlflow]`` table and their types."""


def tracking_config(config_file: str | Path | None = None, *, uri: str | None = None, optional: bool = False,
                    register: str | None = None) -> TrackingConfig | None:
    """The tracking asked for by the CLI (``uri``: the value of ``--mlflow``, ``""`` when it was
    given without a URI, None when not given) and the ``[mlflow]`` table of ``config_file``; None
    when neither asks for tracking (``--register`` and ``--mlflow-optional`` imply ``--mlflow``)."""
    table = _file_table(config_file)
    if uri is None and not register and not optional and table is None:
        return None
    table = table or {}
    given = uri or table.get("uri") or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    name = register or table.get("register")
    if name is not None and not name.strip():
        raise ConfigError("--register ''; expected a registered model name, e.g. --register ranker")
    return TrackingConfig(check_uri(given), optional=bool(optional or table.get("optional", False)),
                          register=name, experiment=table.get("experiment") or DEFAULT_EXPERIMENT)


def _file_table(config_file) -> dict | None:
    if not config_file:
        return None
    from gbltr.config import TRACKING_TABLE
    from gbltr.settings import coerce, read_config_file

    table = read_config_file(config_file).get(TRACKING_TABLE)
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{config_file}: [mlflow] must be a table (uri, optional, register, experiment); "
                          f"found {table!r}")
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise ConfigError(f"[mlflow] unknown config key(s) {unknown}; known keys: {sorted(TABLE_KEYS)}")
    return {k: coerce(v, TABLE_KEYS[k], f"mlflow.{k}") for k, v in table.items()}


def check_uri(uri: str) -> str:
    """``uri`` if it names a tracking store (a scheme, or a local path); else :class:`ConfigError`."""
    text = uri.strip()
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"MLflow tracking URI {redact(uri)!r}; expected a URI without spaces such as "
                          f"http://127.0.0.1:5000, {DEFAULT_STORE} or ./mlruns")
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise ConfigError(f"MLflow tracking URI {redact(uri)!r} names no host; expected e.g. http://127.0.0.1:5000")
    return text


def redact(uri: str) -> str:
    """``uri`` without credentials: ``user:secret@`` becomes ``***@`` and the values of query
    parameters named like :data:`SECRET_QUERY_KEYS` become ``***``."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparsable URI>"
    if "@" not in parts.netloc and not any(s in parts.query.lower() for s in SECRET_QUERY_KEYS):
        return uri  # nothing to hide (and urlunsplit would write sqlite:/// as sqlite:/)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        items = []
        for item in query.split("&"):
            key, sep, value = item.partition("=")
            hidden = sep and any(s in key.lower() for s in SECRET_QUERY_KEYS)
            items.append(f"{key}=***" if hidden else item)
        query = "&".join(items)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_model_uri(text) -> bool:
    """Whether ``text`` names a registered model (``models:/NAME/VERSION``) rather than a run folder."""
    return str(text).startswith(MODEL_URI_PREFIX)


def require_mlflow():
    """The ``mlflow`` module, or :class:`ConfigError` saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(f"MLflow tracking needs the optional extra: {INSTALL_HINT} "
                          "(or run without --mlflow / --register / models:/ URIs)") from None
    return mlflow


__all__ = ["DEFAULT_EXPERIMENT", "DEFAULT_STORE", "TrackingConfig", "check_uri", "is_model_uri", "redact",
           "require_mlflow", "tracking_config"]
