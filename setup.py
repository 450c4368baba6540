"""Packaging shim: everything is in pyproject.toml except one mapping that TOML cannot mix
with package discovery. The declarative feature catalogue lives in the top-level ``features/``
folder (design card) and ships inside the package as ``gbltr.catalogue``, so editable and
installed copies read the same file."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["gbltr", "gbltr.*"]) + ["gbltr.catalogue"],
    package_dir={"gbltr.catalogue": "features"},
)
