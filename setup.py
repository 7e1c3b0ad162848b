"""Maps the import package `dlc` onto src/ and lists its subpackages (metadata is in pyproject)."""
from setuptools import find_packages, setup

setup(packages=["dlc"] + [f"dlc.{p}" for p in find_packages("src")])
