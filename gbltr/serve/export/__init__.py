"""``gbltr export``: a run's model and feature definitions in the form a search engine loads.

One module per format, registered in :data:`FORMATS` (the CLI's choices come from it):

``opensearch``     OpenSearch / Elasticsearch LTR plugin (o19s): a feature set of mustache query
                   templates and a ``model/xgboost+json`` model; LightGBM trees are converted to
                   that form (:mod:`.opensearch`).
``solr``           Solr LTR: a feature store and a ``MultipleAdditiveTreesModel`` (:mod:`.solr`).
``elasticsearch``  Elasticsearch 8.x native LTR: a trained-model body (tree ensemble plus
                   ``learning_to_rank`` query feature extractors), the form eland uploads
                   (:mod:`.elasticsearch`).

Every export writes ``manifest.json`` (format, run, each feature's definition kind and
fidelity, placeholders, split semantics) beside the engine files, into a temporary sibling that
is renamed into place only when complete (an existing folder is replaced only with ``--overwrite``). Models the format cannot express (categorical
splits, zero-as-missing, features without a definition, missing-value routes an engine cannot
take) are refused with :class:`gbltr.errors.ModelError`.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from gbltr.checkpoint import checkpoint
from gbltr.errors import unknown_choice
from gbltr.folders import Input, check_run_folder, run_folder
from gbltr.serve.export.definitions import read_user_definitions, resolve
from gbltr.serve.run import TrainedRun, load_run
from gbltr.track import is_model_uri
from gbltr.serve.trees import forest_of, with_base_folded

log = logging.getLogger("gbltr")

FORMATS = {
    "opensearch": "gbltr.serve.export.opensearch",
    "solr": "gbltr.serve.export.solr",
    "elasticsearch": "gbltr.serve.export.elasticsearch",
}


@dataclass(frozen=True)
class Exported:
    folder: Path
    files: tuple[str, ...]
    manifest: dict


def get_format(name: str):
    if name not in FORMATS:
        raise unknown_choice("export format", name, FORMATS)
    return importlib.import_module(FORMATS[name])


def export_run(run, fmt: str, out: str | Path, *, definitions: str | Path | dict | None = None,
               allow_missing_definitions: bool = False, name: str | None = None, overwrite: bool = False) -> Exported:
    """Export the model of ``run`` (a run folder or :class:`~gbltr.serve.run.TrainedRun`) to ``out``.

    ``out`` is claimed and written atomically like a run folder (:func:`gbltr.folders.run_folder`):
    an existing non-empty folder is refused unless ``overwrite`` and it holds a ``manifest.json``."""
    module = get_format(fmt)
    inputs = [] if isinstance(run, TrainedRun) or is_model_uri(run) else [Input(run, "run folder")]
    if definitions is not None and not isinstance(definitions, dict):
        inputs.append(Input(definitions, "definitions file"))
    check_run_folder(out, overwrite=overwrite, marker="manifest.json", kind="export folder", command="export",
                     inputs=inputs)
    run = run if isinstance(run, TrainedRun) else load_run(run)
    user = definitions if isinstance(definitions, dict) else read_user_definitions(definitions)
    forest = forest_of(run.model)
    defs = resolve(forest.feature_names, run.catalogue, user, allow_missing=allow_missing_definitions, fmt=fmt)
    model_name = name or run.name
    folder = Path(out)
    placeholders = [d.feature for d in defs if d.kind == "missing"]
    checkpoint("export")
    with run_folder(folder, overwrite=overwrite, marker="manifest.json", kind="export folder", command="export",
                    inputs=inputs) as tmp:
        files, notes = module.write(with_base_folded(forest), defs, tmp, name=model_name, catalogue=run.catalogue)
        manifest = {
            "format": fmt,
            "run": str(run.folder),
            "backend": run.model.backend,
            "model_name": model_name,
            "trees": len(forest.trees),
            "files": list(files),
            "features": [{"name": d.feature, "kind": d.kind, "target": d.target, "fidelity": d.fidelity} for d in defs],
            "placeholder_features": placeholders,
            "request_parameters": sorted({"query_text"} | {d.target for d in defs if d.kind == "param"}),
            "notes": notes,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if placeholders:
        log.warning("export %s: NO DEFINITION for %s; they are placeholders that score 0 in the engine, so its "
                    "scores differ from the model's (listed in %s/manifest.json)", fmt, placeholders, folder)
    return Exported(folder, tuple(files) + ("manifest.json",), manifest)

