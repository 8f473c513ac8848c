"""Ship the dbt project, the Feast repo and profiles.yml inside the wheel.

`pip install .` builds a wheel from `pyproject.toml`; this hook adds the three project folders
beside the code as `scoring/project_files/`, so an installed payloom finds them without the
source tree (`scoring.workspace.project_file`). Editable installs (`pip install -e .`, what
`make setup` does) read them from the checkout instead and skip the copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROJECT_FILES = ("dbt_project", "feature_repo", "profiles.yml")
BUNDLE = Path("scoring") / "project_files"
IGNORED = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", "*.pyc", ".user.yml", "data")


class BuildWithProjectFiles(build_py):
    """build_py that also copies the dbt project, the Feast repo and the dbt profiles."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        bundle = Path(self.build_lib) / BUNDLE
        shutil.rmtree(bundle, ignore_errors=True)
        bundle.mkdir(parents=True)
        for name in PROJECT_FILES:
            source = Path(name)
            if source.is_dir():
                shutil.copytree(source, bundle / name, ignore=IGNORED)
            else:
                shutil.copy2(source, bundle / name)


# Not setuptools' default ./build: that is payloom's default workspace folder.
setup(cmdclass={"build_py": BuildWithProjectFiles}, options={"build": {"build_base": ".setuptools-build"}})
