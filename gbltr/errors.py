"""Errors gbltr raises on bad input.

Every message says what was expected, what was found and, where there is one, the likely fix.
Callers catch :class:`GbltrError`; the CLI turns it into a one-line message and exit code 2.
"""

from __future__ import annotations


class GbltrError(Exception):
    """Base class of every error gbltr raises on purpose."""


class InputError(GbltrError, ValueError):
    """A file a user named cannot be read as the kind it should be (missing, a folder, empty,
    compressed, not UTF-8, does not parse, wrong shape or type): :mod:`gbltr.inputs`. The message
    names the file, what was expected and what was found."""


class SchemaError(InputError):
    """A frame or file does not match its contract (columns, dtypes, keys, values)."""


class ConfigError(GbltrError, ValueError):
    """A config value, CLI flag or registry name is invalid."""


class DataError(GbltrError, ValueError):
    """Data that matches its schema but cannot be used as asked (empty log, no labels, ...)."""


class ParseError(InputError):
    """A text file (SVMlight, qrels, JSON answer) does not parse."""


class DeviceError(GbltrError, RuntimeError):
    """The requested device (GPU) or a device-specific feature is not available."""


def unknown_choice(kind: str, value: object, choices) -> ConfigError:
    """The error for a registry look-up that failed: names the valid keys."""
    valid = ", ".join(sorted(str(c) for c in choices))
    return ConfigError(f"unknown {kind} {value!r}; choose one of: {valid}")


class ModelError(GbltrError, ValueError):
    """A run's model file is missing or corrupt, or a model cannot be used or exported as asked."""


class WriteError(GbltrError, RuntimeError):
    """An output could not be written (disk full, read-only file system, name too long); the
    message names the path, and nothing half-written is left there."""


class TrackingError(GbltrError, RuntimeError):
    """The MLflow tracking server or registry refused or failed a request (unreachable, no such
    registered model, a store error): :mod:`gbltr.track`. The message shows the tracking URI
    without credentials."""
