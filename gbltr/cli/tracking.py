"""The MLflow options shared by ``fit``, ``experiment``, ``ablation`` and ``compare`` (:mod:`gbltr.track`)."""

from __future__ import annotations

import click

MLFLOW_HELP = ("log the run to MLflow at URI (a tracking server http://HOST:PORT, or a local store such as "
               "sqlite:///mlflow.db); without URI: [mlflow] uri of --config, else MLFLOW_TRACKING_URI, else "
               "sqlite:///mlflow.db. Write --mlflow=URI before positional arguments")
OPTIONAL_HELP = ("with --mlflow: an unreachable tracking server is a warning and the command runs without "
                 "tracking (default: an error before any training)")
REGISTER_HELP = "register the model in the MLflow model registry as NAME (implies --mlflow); rerank it with models:/NAME/VERSION"


def mlflow_options(register: bool = False):
    """``--mlflow [URI]`` and ``--mlflow-optional`` (and ``--register NAME`` when ``register``)."""

    def decorate(f):
        if register:
            f = click.option("--register", metavar="NAME", help=REGISTER_HELP)(f)
        f = click.option("--mlflow-optional", is_flag=True, help=OPTIONAL_HELP)(f)
        return click.option("--mlflow", "mlflow_uri", is_flag=False, flag_value="", default=None, metavar="[URI]",
                            help=MLFLOW_HELP)(f)

    return decorate


def tracking(config_file, mlflow_uri, mlflow_optional, register=None):
    """The command's :class:`gbltr.track.TrackingConfig` (None: not tracked)."""
    from gbltr.track import tracking_config

    return tracking_config(config_file, uri=mlflow_uri, optional=mlflow_optional, register=register)
