"""payloom's error root and the errors of the scoring runtime.

The root lives here, in the light runtime, so that a service which installs only `udfs` can
still catch every payloom error with one `except PayloomError`.
"""

from __future__ import annotations

__all__ = ["PayloomError", "ModelArtifactError", "ArtifactIntegrityError", "InvalidNameError", "ScoringInputError"]


class PayloomError(Exception):
    """Root of every error payloom raises on purpose; catch this to handle them all."""


class ModelArtifactError(PayloomError):
    """A model artifact is missing, unknown, incomplete, malformed, or fails its checksum."""


class ArtifactIntegrityError(ModelArtifactError):
    """A model artifact fails a checksum or signature, or one of its paths leaves its directory:
    it was modified, copied incompletely or tampered with, and nothing of it is loaded."""


class InvalidNameError(ModelArtifactError):
    """A model, feature or class name breaks payloom's identifier rules (`udfs.identifiers`),
    so it cannot safely become a SQL identifier or a registry path."""


class ScoringInputError(PayloomError):
    """Inputs given to a model do not match what its manifest expects."""
