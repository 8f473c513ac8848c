"""The error hierarchy of payloom's Python packages: one root, specific subclasses."""

from __future__ import annotations

from udfs.errors import ModelArtifactError, PayloomError, ScoringInputError

__all__ = [
    "PayloomError",
    "RawContractError",
    "PipelineError",
    "ModelArtifactError",
    "ScoringInputError",
    "ModelTrainingError",
    "FeatureStoreError",
    "SqlExportError",
]


class RawContractError(PayloomError):
    """The raw data directory does not follow the contract (missing table, column or wrong type)."""


class PipelineError(PayloomError):
    """A step of the main job (simulate, register, dbt build) failed."""


class ModelTrainingError(PayloomError):
    """A model cannot be trained or compiled from what was given (data, parameters, tree types)."""


class FeatureStoreError(PayloomError):
    """The Feast feature store of a workspace cannot be applied, materialised or read."""


class SqlExportError(PayloomError):
    """A model cannot be written as SQL for the asked dialect, or the SQL cannot be installed."""
