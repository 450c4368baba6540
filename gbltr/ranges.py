"""One declaration per number: the range of every numeric config key and CLI option.

A :class:`Range` says what a number may be: integer or real, its bounds (each end open or
closed), and whether NaN or infinity has a documented meaning (none does unless the key says so:
otherwise they are refused). The same object is used

- as dataclass field metadata (:func:`number`), checked by :func:`check_fields` in the config
  dataclasses' ``__post_init__`` (and so by :func:`gbltr.config.load_config`, which builds them);
- as a click parameter type (:class:`Number`), so a CLI option refuses what its config key
  refuses, with the same words. An option that maps to a config key takes the key's declaration
  (:func:`option_type`), never a second copy.

Light on purpose (no numpy, no Polars): configs and ``--help`` import it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import click

from gbltr.errors import ConfigError

RANGE = "gbltr.range"
"""The dataclass field metadata key that holds a field's :class:`Range`."""
MAX_INT32 = 2**31 - 1
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Range:
    """The values a number may take.

    ``integer``: an int (a bool is not one); otherwise a real (an int is accepted as a real).
    ``low``/``high``: bounds (None: unbounded), ``low_open``/``high_open``: open ends.
    ``inf``: the documented meaning of ``inf`` (e.g. "no limit"); empty = refused. NaN is always
    refused: no key gives it a meaning. ``note``: what a special value means (shown in errors and
    help), e.g. "0 = auto".
    """

    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    inf: str = ""
    note: str = ""

    def describe(self) -> str:
        """Words for the expected values, e.g. ``a finite number in (0, 1]``, ``an integer >= 1``."""
        what = "an integer" if self.integer else "a finite number"
        if self.low is not None and self.high is not None:
            text = (f"{what} in {'(' if self.low_open else '['}{_fmt(self.low)}, "
                    f"{_fmt(self.high)}{')' if self.high_open else ']'}")
        elif self.low is not None:
            text = f"{what} {'>' if self.low_open else '>='} {_fmt(self.low)}"
        elif self.high is not None:
            text = f"{what} {'<' if self.high_open else '<='} {_fmt(self.high)}"
        else:
            text = what
        if self.inf:
            text += f", or inf ({self.inf})"
        if self.note:
            text += f"; {self.note}"
        return text

    def contains(self, value) -> bool:
        # numbers.Integral / Real take numpy's scalars too; a bool is not a number here
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.integer and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Integral) and math.isnan(value):
            return False
        if not isinstance(value, numbers.Integral) and math.isinf(value):
            return bool(self.inf) and value > 0 and (self.high is None or self.high == math.inf)
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def check(self, name: str, value):
        """``value`` if it is in the range, else a ConfigError naming ``name`` and the range."""
        if not self.contains(value):
            raise ConfigError(f"{name}={value!r}; expected {self.describe()}")
        return value


def _fmt(x: float) -> str:
    if x == MAX_INT32:
        return "2**31 - 1"
    if x == MAX_SEED:
        return "2**32 - 1"
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else str(x)


# The kinds used across gbltr. Counts are capped at 2**31 - 1 (what the booster libraries take).
def real() -> Range:
    """Any finite real."""
    return Range()


def non_negative(inf: str = "") -> Range:
    """A finite real >= 0 (a scale, a standard deviation, a penalty)."""
    return Range(low=0.0, inf=inf)


def positive(inf: str = "") -> Range:
    """A finite real > 0."""
    return Range(low=0.0, low_open=True, inf=inf)


def probability(*, low_open: bool = False, high_open: bool = False) -> Range:
    """A probability or share in [0, 1] (ends open where asked)."""
    return Range(low=0.0, high=1.0, low_open=low_open, high_open=high_open)


def count(low: int = 1, high: int = MAX_INT32, note: str = "") -> Range:
    """An integer that counts something: >= ``low`` (1 unless told), at most ``high``."""
    return Range(integer=True, low=low, high=high, note=note)


def seed_range() -> Range:
    """A random seed: an integer in [0, 2**32 - 1] (what numpy takes)."""
    return Range(integer=True, low=0, high=MAX_SEED)


def number(default, declared: Range, **kw):
    """A dataclass field holding a number (or a tuple of numbers) in ``declared``."""
    return dataclasses.field(default=default, metadata={RANGE: declared}, **kw)


def range_of(cls, name: str) -> Range:
    """The declaration of field ``name`` of dataclass ``cls``."""
    declared = cls.__dataclass_fields__[name].metadata.get(RANGE)
    if declared is None:
        raise KeyError(f"{cls.__name__}.{name} declares no range")
    return declared


def check_fields(obj, section: str = "") -> None:
    """Check every declared field of the dataclass instance ``obj`` (None, for an optional key,
    passes; a tuple is checked element by element). ``section`` prefixes the key in errors."""
    for f in dataclasses.fields(obj):
        declared = f.metadata.get(RANGE)
        if declared is None:
            continue
        value = getattr(obj, f.name)
        key = f"{section}.{f.name}" if section else f.name
        if value is None and f.default is None:
            continue
        if isinstance(value, (tuple, list)):
            for v in value:
                if not declared.contains(v):
                    raise ConfigError(f"{key}={list(value)!r}; expected each value {declared.describe()}")
        else:
            declared.check(key, value)


class Number(click.ParamType):
    """A click type that parses an int or a real and enforces a :class:`Range`.

    ``key``: the config key the option sets (its declaration is the key's), for error messages.
    """

    def __init__(self, declared: Range, key: str = ""):
        self.range = declared
        self.key = key
        self.name = "integer" if declared.integer else "float"

    def get_metavar(self, param, ctx=None):
        return "INTEGER" if self.range.integer else "FLOAT"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parsed = value
        else:
            text = str(value).strip()
            try:
                parsed = int(text) if self.range.integer else float(text)
            except ValueError:
                self.fail(f"{value!r}; expected {self.range.describe()}", param, ctx)
        if not self.range.contains(parsed):
            where = f" (config key {self.key})" if self.key else ""
            self.fail(f"{value!r}{where}; expected {self.range.describe()}", param, ctx)
        return parsed

    def __repr__(self):
        return f"Number({self.range.describe()})"


def option_type(cls, name: str, key: str | None = None) -> Number:
    """The click type of an option that sets field ``name`` of config dataclass ``cls``: the
    field's own declaration (one place)."""
    return Number(range_of(cls, name), key or name)


def help_range(text: str, declared: Range | Number) -> str:
    """``text`` followed by the declared range, for an option's help."""
    r = declared.range if isinstance(declared, Number) else declared
    return f"{text} ({r.describe()})"
