"""The declarative feature catalogue: packaged file, selection by group/subgroup, validation errors."""

from __future__ import annotations

import copy
import importlib.resources
import tomllib

import pytest

from gbltr.errors import ConfigError, InputError, SchemaError
from gbltr.features.catalogue import (
    features_in,
    groups,
    load_catalogue,
    parse_catalogue,
)
from gbltr.features.text import SCORES, TEXT_FIELDS


def _raw() -> dict:
    text = (importlib.resources.files("gbltr.catalogue") / "catalogue.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_packaged_catalogue_loads_with_three_groups():
    cat = load_catalogue()
    assert cat.group_names == ("document", "query", "query_document")
    assert len(cat.names) == len(set(cat.names)) == 25
    assert all(f.description.strip() and f.description != f.name for f in cat.features)
    # the query-document group is exactly what the text features compute, name for name
    computed = {f"{score}_{field}" for field in TEXT_FIELDS for score in SCORES}
    assert {f.name for f in cat.features_in("query_document")} == computed


def test_features_in_group_and_subgroup():
    assert [f.name for f in features_in("bm25")] == ["bm25_title", "bm25_body"]
    assert [f.name for f in features_in("query")] == ["query_len", "query_freq_log1p"]
    doc = features_in("document")
    assert {f.subgroup for f in doc} == {"doc_length", "url", "authority", "domain"}
    assert "lm" in groups() and "query_document" in groups()


def test_unknown_selector_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown feature group or subgroup 'bm52'; choose one of: .*bm25"):
        features_in("bm52")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(extra=1), r"unknown key\(s\) \['extra'\]"),
        (lambda d: d["feature"][0].update(weight=2), r"unknown key\(s\) \['weight'\]"),
        (lambda d: d["groups"]["query"].update(colour="red"), r"unknown key\(s\) \['colour'\]"),
        (lambda d: d["feature"].append(dict(d["feature"][0])), r"duplicate feature name 'doc_title_len'"),
        (lambda d: d["feature"][0].update(group="documents"), r"unknown group 'documents'"),
        (lambda d: d["feature"][0].update(subgroup="bm25"), r"subgroup 'bm25' is not declared in group 'document'"),
        (lambda d: d["feature"][0].update(requires=["documents.colour"]), r"requires"),
        (lambda d: d["feature"][0].pop("description"), r"missing or empty key\(s\) \['description'\]"),
        (lambda d: d["groups"]["query"]["subgroups"].append("url"), r"subgroup 'url' is already"),
        (lambda d: d.update(version=2), r"version"),
    ],
)
def test_invalid_catalogue_is_a_schema_error(mutate, message):
    data = copy.deepcopy(_raw())
    mutate(data)
    with pytest.raises(SchemaError, match=message):
        parse_catalogue(data)


def test_load_from_path_and_bad_toml(tmp_path):
    good = tmp_path / "c.toml"
    good.write_text(
        'version = 1\n[groups.query]\ndescription = "q"\nsubgroups = ["query_length"]\n'
        '[[feature]]\nname = "query_len"\ngroup = "query"\nsubgroup = "query_length"\ndescription = "n"\n'
    )
    assert load_catalogue(good).names == ("query_len",)
    bad = tmp_path / "bad.toml"
    bad.write_text("version = = 1")
    with pytest.raises(InputError, match=r"bad.toml': expected a TOML file: .*found text that does not parse as TOML"):
        load_catalogue(bad)
