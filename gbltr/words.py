"""How reports write a count and its noun: ``1 test query``, ``2 test queries``, ``0 sessions``.

The one helper every report writer (run reports, compare, experiment, ablation, bucket notes,
click-model reports, command summaries) uses for "N things", so that no report says "1 test
queries". Light on purpose (no numpy, no Polars): :mod:`gbltr.buckets` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Noun:
    """A noun phrase in its two numbers, e.g. ``Noun("test query that can rank", "test queries that can rank")``."""

    singular: str
    plural: str

    def of(self, n: int) -> str:
        """The phrase for ``n`` things (singular only for exactly one)."""
        return self.singular if n == 1 else self.plural

    def __str__(self) -> str:
        return self.plural


def noun(singular: str, plural: str | None = None) -> Noun:
    """``noun("query")`` -> query / queries; ``noun("session")`` -> session / sessions; an irregular
    or multi-word phrase names its plural."""
    if plural is None:
        if singular.endswith("y") and singular[-2:-1] not in tuple("aeiou"):
            plural = singular[:-1] + "ies"
        elif singular.endswith(("s", "x", "ch", "sh")):
            plural = singular + "es"
        else:
            plural = singular + "s"
    return Noun(singular, plural)


def counted(n: int, what: str | Noun) -> str:
    """``counted(1, "test query")`` -> ``"1 test query"``; ``counted(2, "test query")`` -> ``"2 test queries"``.
    ``what``: a :class:`Noun`, or a regular singular noun phrase whose last word takes the plural."""
    if isinstance(what, str):
        head, _, last = what.rpartition(" ")
        n_last = noun(last)
        what = Noun(what, f"{head} {n_last.plural}" if head else n_last.plural)
    return f"{n} {what.of(int(n))}"
