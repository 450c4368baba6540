"""Tolerant parsing of model answers: statuses for every kind of bad answer, never a default."""

from gbltr.labels.llm.parse import loads_tolerant, parse_list, parse_point, parse_ranking, parse_selection


def test_loads_tolerant_repairs_fences_prose_quotes():
    assert loads_tolerant('{"label": 2}') == ({"label": 2}, "ok")
    assert loads_tolerant('```json\n{"label": 3}\n```') == ({"label": 3}, "repaired")
    assert loads_tolerant('Sure! {"label": 1} hope it helps') == ({"label": 1}, "repaired")
    assert loads_tolerant("{'label': 4,}") == ({"label": 4}, "repaired")
    assert loads_tolerant("no json here") == (None, "invalid_json")
    assert loads_tolerant("") == (None, "invalid_json")


def test_parse_point():
    assert parse_point('{"label": 3}', (0, 4)).values == [3.0]
    assert parse_point("2", (0, 4)).statuses == ["repaired"]
    bad = parse_point('{"label": 7}', (0, 4))
    assert bad.values == [None] and bad.statuses == ["invalid_label"]
    assert parse_point('{"label": true}', (0, 4)).values == [None]
    assert parse_point('{"label": 2.5}', (0, 4)).values == [None]
    assert parse_point("garbage", (0, 4)).statuses == ["invalid_json"]


def test_parse_list_detects_missing_duplicate_out_of_range():
    p = parse_list('{"labels": [{"id": 1, "label": 3}, {"id": 3, "label": 0}]}', 3, (0, 4))
    assert p.values == [3.0, None, 0.0]
    assert p.statuses == ["ok", "missing_id", "ok"] and p.call_status == "missing_id"
    p = parse_list('{"labels": [{"id": 1, "label": 3}, {"id": 1, "label": 4}, {"id": 2, "label": 1}]}', 2, (0, 4))
    assert p.values == [3.0, 1.0] and p.statuses[0] == "duplicate_id" and p.call_status == "duplicate_id"
    p = parse_list('{"labels": [{"id": 1, "label": 3}, {"id": 9, "label": 4}, {"id": 2, "label": 1}]}', 2, (0, 4))
    assert p.values == [3.0, 1.0] and p.call_status == "out_of_range_id"
    p = parse_list('{"labels": [{"id": "[1]", "label": "2"}, {"id": 2, "label": 5}]}', 2, (0, 4))
    assert p.values == [2.0, None] and p.statuses[1] == "invalid_label"


def test_parse_ranking_and_selection():
    r = parse_ranking('{"ranking": [3, 1, 2]}', 3)
    assert r.values == [2, 3, 1] and r.call_status == "ok"
    r = parse_ranking('{"ranking": [3, 3, 1, 7]}', 3)
    assert r.values == [2, None, 1] and r.statuses[1] == "missing_id"
    s = parse_selection('{"relevant": [2, 5]}', 3)
    assert s.values == [0.0, 1.0, 0.0] and s.call_status == "out_of_range_id"
    assert parse_selection("nope", 3).values == [None, None, None]
