"""A trained run folder, read back for use outside training (rerank, export).

What a run folder records and this module reads (see :mod:`gbltr.evaluate.report`):
``model.txt`` / ``model.json`` (the booster), ``config.json`` (the resolved configuration: feature
parameters, catalogue), ``report.json`` (``features``: the model's feature columns in order) and,
when the run used a user catalogue, ``catalogue.toml``. A registered model ``models:/NAME/VERSION``
(logged by ``gbltr fit --mlflow --register NAME``) is read from the same files stored beside it
in the MLflow registry (:mod:`gbltr.track.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gbltr.config import load_config
from gbltr.inputs import read_document
from gbltr.errors import ModelError
from gbltr.features.catalogue import load_catalogue
from gbltr.train.model import load_model


@dataclass(frozen=True)
class TrainedRun:
    """A run folder's model and what is needed to feed it.

    folder         the run folder
    model          the :class:`gbltr.train.model.FittedRanker` read from the model file
    config         the run's :class:`gbltr.config.FitConfig`
    feature_names  the model's input columns, in order
    catalogue      the :class:`gbltr.features.catalogue.Catalogue` the features were built from
    origin         ``models:/NAME/VERSION`` when read from the MLflow registry (``folder`` is then that URI)
    """

    folder: Path
    model: object
    config: object
    feature_names: tuple[str, ...]
    catalogue: object
    origin: str | None = None

    @property
    def name(self) -> str:
        """A short name: the run folder's name, or ``NAME-vVERSION`` of a registered model."""
        if self.origin is not None:
            from gbltr.track.registry import parse_model_uri

            model, version = parse_model_uri(self.origin)
            return f"{model}-{version.lstrip('@')}" if version.startswith("@") else f"{model}-v{version}"
        return self.folder.resolve().name


def load_run(folder: str | Path) -> TrainedRun:
    """Read a run folder written by ``gbltr fit``, or a registered model ``models:/NAME/VERSION``
    (:func:`gbltr.track.registry.load_registered`); :class:`ModelError` names what is missing."""
    from gbltr.track import is_model_uri

    if is_model_uri(folder):
        from gbltr.track.registry import load_registered

        return load_registered(str(folder))
    return load_run_folder(folder)


def load_run_folder(folder: str | Path) -> TrainedRun:
    """Read a run folder written by ``gbltr fit``; :class:`ModelError` names what is missing."""
    root = Path(folder)
    if not root.is_dir():
        raise ModelError(f"run folder {str(root)!r} not found; expected a folder written by 'gbltr fit'")
    for name in ("config.json", "report.json"):
        if not (root / name).is_file():
            raise ModelError(f"run folder {str(root)!r} has no {name}; expected a complete run written by 'gbltr fit'")
    model = load_model(root)
    config = load_config(root / "config.json")
    report = read_document(root / "report.json", "run report", "the report of a `gbltr fit` run", fmt="json")
    recorded = tuple(report.get("features") or ())
    names = tuple(model.feature_names) or recorded
    if recorded and names != recorded:
        raise ModelError(
            f"run folder {str(root)!r}: the model's features {list(names)} differ from the report's "
            f"{list(recorded)}; expected the model and report of one run"
        )
    user = root / "catalogue.toml"
    catalogue = load_catalogue(user if user.is_file() else None)
    return TrainedRun(root, model, config, names, catalogue)
