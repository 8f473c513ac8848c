"""payloom's error root and the errors of the scoring runtime.

The root lives here, in the light runtime, so that a service which installs only `udfs` can
still catch every payloom error with one `except PayloomError`.
"""

from __future__ import annotations

__all__ = ["PayloomError", "ModelArtifactError", "ScoringInputError"]


class PayloomError(Exception):
    """Root of every error payloom raises on purpose; catch this to handle them all."""


class ModelArtifactError(PayloomError):
    """A model artifact is missing, unknown, incomplete, or fails its checksum."""


class ScoringInputError(PayloomError):
    """Inputs given to a model do not match what its manifest expects."""
