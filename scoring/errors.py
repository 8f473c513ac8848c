"""The error hierarchy of payloom's Python packages: one root, specific subclasses."""

from __future__ import annotations

__all__ = ["PayloomError", "RawContractError", "PipelineError"]


class PayloomError(Exception):
    """Root of every error payloom raises on purpose; catch this to handle them all."""


class RawContractError(PayloomError):
    """The raw data directory does not follow the contract (missing table, column or wrong type)."""


class PipelineError(PayloomError):
    """A step of the main job (simulate, register, dbt build) failed."""
