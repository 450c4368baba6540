"""Tolerant parsing of model answers into labels, with a status for every outcome.

A label is never defaulted: every parse returns a status string, and the caller re-asks or
marks the label missing. Statuses (the ``parse_status`` column of a label set):

``ok``              valid answer
``repaired``        valid after tolerant parsing (code fences, prose around the JSON, ``'`` quotes)
``invalid_json``    no JSON object could be recovered
``invalid_label``   a label outside the scale or not a number
``missing_id``      a list answer left this document out
``duplicate_id``    a list answer named this document twice (first occurrence kept)
``out_of_range_id`` a list answer named identifiers not shown (ignored; recorded on the call)
``length``          the answer was cut by max_tokens and did not parse
``context_overflow`` the server refused the request as longer than the model's context (not re-asked)
``content_filter``  the provider filtered the answer
``failed``          the call failed after all retries
``reasked``         missing from the first answer, filled in by a re-ask
``pending``         Batch API only: not answered (yet) after the last round
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def loads_tolerant(text: str) -> tuple[object | None, str]:
    """Parse JSON from a model answer: ``(value, "ok" | "repaired" | "invalid_json")``.

    Tries the text as is, then the inside of a code fence, then the outermost ``{...}`` span,
    then that span with single quotes and trailing commas fixed.
    """
    text = (text or "").strip()
    if not text:
        return None, "invalid_json"
    try:
        return json.loads(text), "ok"
    except ValueError:
        pass
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        candidates.append(text[start : end + 1])
    for c in candidates:
        for variant in (c, re.sub(r",\s*([}\]])", r"\1", c.replace("'", '"'))):
            try:
                return json.loads(variant), "repaired"
            except ValueError:
                continue
    return None, "invalid_json"


def _as_label(value, scale: tuple[int, int]) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if value != int(value) or not scale[0] <= value <= scale[1]:
        return None
    return float(value)


def _as_id(value, n: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().strip("[]")
        if not value.isdigit():
            return None
        value = int(value)
    if isinstance(value, float) and value == int(value):
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= n:
        return None
    return value


@dataclass
class Parsed:
    """One parsed answer: per-item values (index 0..n-1, None = no value) and statuses."""

    values: list
    statuses: list[str]
    call_status: str  # status of the answer as a whole
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(v is not None for v in self.values)


def parse_point(text: str, scale: tuple[int, int]) -> Parsed:
    """``{"label": k}`` (or a bare integer) -> one label on ``scale``."""
    obj, status = loads_tolerant(text)
    if obj is None:
        bare = (text or "").strip()
        label = _as_label(bare, scale) if re.fullmatch(r"-?\d+", bare) else None
        if label is None:
            return Parsed([None], ["invalid_json"], "invalid_json", ["no JSON"])
        return Parsed([label], ["repaired"], "repaired")
    if isinstance(obj, dict):
        value = obj.get("label")
    else:  # a bare number instead of the asked-for object
        value, status = obj, "repaired"
    label = _as_label(value, scale)
    if label is None:
        return Parsed([None], ["invalid_label"], "invalid_label", [f"label {value!r} not in {scale}"])
    return Parsed([label], [status], status)


def _ids_list(obj, key: str) -> list | None:
    if isinstance(obj, dict):
        obj = obj.get(key)
    return obj if isinstance(obj, list) else None


def _id_problems(raw_ids: list, n: int) -> tuple[list[int | None], list[str], set[int]]:
    """Map raw ids to 1..n; report out-of-range and duplicates; return seen ids in order."""
    ids, problems, dups = [], [], set()
    seen: set[int] = set()
    for raw in raw_ids:
        i = _as_id(raw, n)
        if i is None:
            problems.append(f"out_of_range_id {raw!r}")
            ids.append(None)
        elif i in seen:
            problems.append(f"duplicate_id {i}")
            dups.add(i)
            ids.append(None)
        else:
            seen.add(i)
            ids.append(i)
    return ids, problems, dups


def _finish(values, dups, problems, status, n) -> Parsed:
    statuses = []
    for k in range(n):
        if values[k] is None:
            statuses.append("missing_id")
        elif (k + 1) in dups:
            statuses.append("duplicate_id")
        else:
            statuses.append(status)
    if any(p.startswith("out_of_range_id") for p in problems) and status in ("ok", "repaired"):
        call = "out_of_range_id"
    elif dups:
        call = "duplicate_id"
    elif any(v is None for v in values):
        call = "missing_id"
    else:
        call = status
    return Parsed(values, statuses, call, problems)


def parse_list(text: str, n: int, scale: tuple[int, int]) -> Parsed:
    """``{"labels": [{"id": i, "label": k}, ...]}`` -> n labels (ids are 1..n)."""
    obj, status = loads_tolerant(text)
    items = _ids_list(obj, "labels")
    if items is None and isinstance(obj, dict) and all(_as_id(k, n) for k in obj):
        items = [{"id": k, "label": v} for k, v in obj.items()]  # {"1": 3, "2": 0}
        status = "repaired"
    if items is None:
        return Parsed([None] * n, ["invalid_json"] * n, "invalid_json", ["no labels list"])
    raw_ids = [it.get("id") if isinstance(it, dict) else None for it in items]
    ids, problems, dups = _id_problems(raw_ids, n)
    values: list = [None] * n
    bad_label = False
    for it, i in zip(items, ids):
        if i is None:
            continue
        label = _as_label(it.get("label"), scale)
        if label is None:
            problems.append(f"invalid_label {it.get('label')!r} for id {i}")
            bad_label = True
            continue
        values[i - 1] = label
    parsed = _finish(values, dups, problems, status, n)
    if bad_label:
        parsed.statuses = [
            "invalid_label" if s == "missing_id" and (k + 1) in set(x for x in ids if x) else s
            for k, s in enumerate(parsed.statuses)
        ]
        if parsed.call_status in ("ok", "repaired", "missing_id"):
            parsed.call_status = "invalid_label"
    return parsed


def parse_ranking(text: str, n: int) -> Parsed:
    """``{"ranking": [i, ...]}`` -> the 1-based position of each of the n items (None = left out)."""
    obj, status = loads_tolerant(text)
    raw = _ids_list(obj, "ranking")
    if raw is None:
        return Parsed([None] * n, ["invalid_json"] * n, "invalid_json", ["no ranking list"])
    ids, problems, dups = _id_problems(raw, n)
    values: list = [None] * n
    pos = 0
    for i in ids:
        if i is None:
            continue
        pos += 1
        values[i - 1] = pos
    return _finish(values, dups, problems, status, n)


def parse_selection(text: str, n: int) -> Parsed:
    """``{"relevant": [i, ...]}`` -> 1.0 for selected items, 0.0 for the others.

    A selection cannot miss ids (not selected = 0), but out-of-range ids are reported.
    """
    obj, status = loads_tolerant(text)
    raw = _ids_list(obj, "relevant")
    if raw is None:
        return Parsed([None] * n, ["invalid_json"] * n, "invalid_json", ["no relevant list"])
    ids, problems, dups = _id_problems(raw, n)
    values = [0.0] * n
    for i in ids:
        if i is not None:
            values[i - 1] = 1.0
    parsed = _finish(values, set(), problems, status, n)
    return parsed
