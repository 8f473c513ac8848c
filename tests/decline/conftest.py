"""A simulated workspace with trained, compiled and published decline models and SQL scores."""

from __future__ import annotations

import shutil

import pytest

from scoring.decline_training_job import DeclineTrainingReport, train_decline_job
from scoring.workspace import Workspace


@pytest.fixture(scope="session")
def trained(tmp_path_factory, simulated_workspace) -> tuple[Workspace, DeclineTrainingReport]:
    """A copy of the simulated workspace after `payloom train` (small search, real models)."""
    root = tmp_path_factory.mktemp("trained") / "workspace"
    shutil.copytree(simulated_workspace.root, root)
    workspace = Workspace.at(root)
    report = train_decline_job(workspace, candidates=2, max_trees=120, seed=1, echo=None)
    return workspace, report
