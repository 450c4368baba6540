"""The feature catalogue (``catalogue.toml``), installed as ``gbltr.catalogue``."""
