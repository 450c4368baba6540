"""Feature definitions: how a search engine computes each of a model's input features.

A definition is one of three kinds, read from the feature's catalogue group:

``match`` (subgroup ``bm25``: ``bm25_title``, ``bm25_body``)
    the engine's own BM25 scoring of the query text against the field named by the suffix (a
    ``match`` query; Solr ``{!dismax qf=FIELD}``). *Approximate*: Lucene's BM25 tokenises and
    weighs idf in its own way, so the values differ from gbltr's; configure the field's
    similarity (k1, b) as in the run and compare with logged features before trusting scores.
``field`` (group ``document``)
    the value of the numeric document field of the same name, indexed from gbltr's document
    features (``gbltr rerank`` builds them). *Exact*. A document without the field does not
    match: the engine's missing/default value.
``param`` (group ``query``)
    a query-level value passed with the request (``query_len``, ``query_freq_log1p``). *Exact*.

Every other feature (tf-idf, language-model and match features) has no built-in definition:
the engines cannot compute gbltr's formulas. Export refuses such a model unless the user
supplies definitions (``--definitions FILE``: a JSON object feature -> engine definition) or
passes ``--allow-missing-definitions``, which writes a placeholder that scores 0 and says so
in the export's ``manifest.json`` and on stderr.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gbltr.inputs import read_document
from gbltr.errors import ConfigError, ModelError

#: The request parameter that carries the query text (mustache ``{{query_text}}``; Solr ``${query_text}``).
QUERY_PARAM = "query_text"


@dataclass(frozen=True)
class Definition:
    """How the engine computes one feature. ``kind``: match, field, param, user or missing."""

    feature: str
    kind: str
    target: str = ""  # the field (match, field) or the request parameter (param)
    user: object = None  # the user's engine-specific definition (kind == "user")

    @property
    def fidelity(self) -> str:
        return {"field": "exact", "param": "exact", "match": "approximate (engine BM25)",
                "user": "user-defined", "missing": "MISSING: placeholder scores 0"}[self.kind]


def builtin(feature: str, catalogue) -> Definition:
    """The built-in definition of ``feature`` from its catalogue entry (kind ``missing`` if none)."""
    try:
        entry = catalogue.feature(feature)
    except Exception:
        return Definition(feature, "missing")
    if entry.group == "document":
        return Definition(feature, "field", feature)
    if entry.group == "query":
        return Definition(feature, "param", feature)
    if entry.subgroup == "bm25" and feature.rsplit("_", 1)[-1] in ("title", "body"):
        return Definition(feature, "match", feature.rsplit("_", 1)[-1])
    return Definition(feature, "missing")


def read_user_definitions(path: str | Path | None) -> dict:
    if path is None:
        return {}
    return read_document(path, "definitions file", "a JSON object feature -> engine definition", fmt="json")


def resolve(features, catalogue, user: dict, *, allow_missing: bool, fmt: str) -> list[Definition]:
    """One definition per model feature, user definitions first; refuse undefined features
    unless ``allow_missing``."""
    unknown = sorted(set(user) - set(features))
    if unknown:
        raise ConfigError(f"definitions given for {unknown}, which the model does not use; model features: {list(features)}")
    out = [Definition(f, "user", user=user[f]) if f in user else builtin(f, catalogue) for f in features]
    missing = [d.feature for d in out if d.kind == "missing"]
    if missing and not allow_missing:
        raise ModelError(
            f"{fmt} export: feature(s) {missing} have no query definition the engine can compute "
            f"(built-in: document fields, query parameters, BM25 on title/body). Give them with "
            f"--definitions FILE (JSON: feature -> {fmt} definition), train without them (e.g. "
            f"drop_groups), or pass --allow-missing-definitions to export placeholders that score 0"
        )
    return out


def query_dsl(d: Definition) -> tuple[dict, list[str]]:
    """The Elasticsearch/OpenSearch query DSL of a definition (mustache templates) and the request
    parameters it reads. A query's score is the feature value."""
    if d.kind == "match":
        return {"match": {d.target: "{{" + QUERY_PARAM + "}}"}}, [QUERY_PARAM]
    if d.kind == "field":
        return {"function_score": {"query": {"exists": {"field": d.target}},
                                   "field_value_factor": {"field": d.target}, "boost_mode": "replace"}}, []
    if d.kind == "param":
        return {"function_score": {"query": {"match_all": {}}, "boost_mode": "replace",
                                   "script_score": {"script": {"source": "Double.parseDouble(params.v)",
                                                               "params": {"v": "{{" + d.target + "}}"}}}}}, [d.target]
    if d.kind == "user":
        if not isinstance(d.user, dict):
            raise ConfigError(f"definition of {d.feature!r}: expected a query DSL object, found {d.user!r}")
        return d.user, sorted(set(re.findall(r"\{\{\s*([\w.]+)\s*\}\}", json.dumps(d.user))))
    return {"match_none": {}}, []
