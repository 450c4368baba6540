"""Packaging shim: everything is in pyproject.toml except one mapping that pyproject cannot mix
with package discovery.

The declarative feature catalogue lives in the top-level ``features/`` folder (design card: one
source of truth that people edit) and ships inside the package as ``gbltr.catalogue``, so editable
and installed copies read the same file through ``importlib.resources``. pyproject's
``[tool.setuptools.package-dir]`` can map ``gbltr.catalogue`` to ``features/`` only for packages
listed by hand: ``packages.find`` looks at directories and never finds a mapped one (tried with
the setuptools pip fetched for an isolated build in 2026-11: the wheel silently lacks the catalogue). A hand-kept package list would drift as
packages are added, so the mapping stays here, next to automatic discovery.
``tests/test_wheel.py`` builds the wheel and checks that every packaged file is inside it.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["gbltr", "gbltr.*"]) + ["gbltr.catalogue"],
    package_dir={"gbltr.catalogue": "features"},
)
