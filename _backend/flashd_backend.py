"""Build backend: setuptools, run on a copy of the checkout.

setuptools writes build/ and flashd.egg-info/ next to pyproject.toml, and flashd's package root
is the checkout itself (package-dir "flashd" = "."), so `pip install .` would leave them in the
checkout. Wheels and sdists are built from a temporary copy instead; an editable install
(`pip install -e .`, the Makefile's) has to point at the checkout, so it runs in place.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager

from setuptools import build_meta as _setuptools

# what never goes into a wheel or sdist: caches, outputs, virtual environments, VCS data
_SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")

get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
build_editable = _setuptools.build_editable


@contextmanager
def _in_a_copy():
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="flashd-build-") as tmp:
        copy = os.path.join(tmp, "src")
        shutil.copytree(here, copy, ignore=_SKIP)
        os.chdir(copy)
        try:
            yield
        finally:
            os.chdir(here)


def _absolute(path):
    return os.path.abspath(path)


def get_requires_for_build_wheel(config_settings=None):
    with _in_a_copy():  # setuptools runs egg_info here
        return _setuptools.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings=None):
    with _in_a_copy():
        return _setuptools.get_requires_for_build_sdist(config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    wheel_directory = _absolute(wheel_directory)
    metadata_directory = metadata_directory and _absolute(metadata_directory)
    with _in_a_copy():
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    sdist_directory = _absolute(sdist_directory)
    with _in_a_copy():
        return _setuptools.build_sdist(sdist_directory, config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    metadata_directory = _absolute(metadata_directory)
    with _in_a_copy():
        return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
