"""The error hierarchy of payloom's Python packages: one root, specific subclasses."""

from __future__ import annotations

from udfs.errors import ArtifactIntegrityError, InvalidNameError, ModelArtifactError, PayloomError, ScoringInputError

__all__ = [
    "PayloomError",
    "RawContractError",
    "PipelineError",
    "ModelArtifactError",
    "ArtifactIntegrityError",
    "InvalidNameError",
    "InvalidIdentifierError",
    "InvalidPolicyInputNameError",
    "InvalidDecisionLogNameError",
    "ScoringInputError",
    "ModelTrainingError",
    "FeatureStoreError",
    "DecisionLogError",
    "PolicyEvaluationError",
    "ExcludedRowsWarning",
    "SqlExportError",
    "RoutingError",
]


class RawContractError(PayloomError):
    """The raw data directory does not follow the contract (missing table, column or wrong type)."""


class PipelineError(PayloomError):
    """A step of the main job (simulate, register, dbt build) failed."""


class ModelTrainingError(PayloomError):
    """A model cannot be trained or compiled from what was given (data, parameters, tree types)."""


class FeatureStoreError(PayloomError):
    """The Feast feature store of a workspace cannot be applied, materialised or read."""


class DecisionLogError(PayloomError):
    """Decisions or rewards given to the decision log cannot be written or read as asked (API misuse)."""


class PolicyEvaluationError(PayloomError):
    """An off-policy evaluation's inputs do not fit together (missing columns, unknown actions, bad target policy)."""


class ExcludedRowsWarning(UserWarning):
    """Some input rows were left out (quarantined or excluded from an estimate); their counts are reported."""


class SqlExportError(PayloomError):
    """A model cannot be written as SQL for the asked dialect, or the SQL cannot be installed."""


class RoutingError(PayloomError):
    """A routing or bandit policy cannot be trained or applied as asked (unknown gateway or action,
    eligible sets that do not match the model's classes, bad policy parameters)."""


class InvalidIdentifierError(PayloomError, ValueError):
    """A table, view, schema, column, macro or alias name given to a scoring function is not one payloom
    puts in SQL (`scoring.sql_identifiers`): letters, digits and underscores, a qualified name being up to
    three such parts joined by dots. Nothing was created or changed on the connection."""


class InvalidPolicyInputNameError(InvalidIdentifierError, PolicyEvaluationError):
    """A relation or column name given to an off-policy evaluation is not a valid SQL identifier
    (both an InvalidIdentifierError and a PolicyEvaluationError)."""


class InvalidDecisionLogNameError(InvalidIdentifierError, DecisionLogError):
    """A view name (prefix) asked of the decision log is not a valid SQL identifier
    (both an InvalidIdentifierError and a DecisionLogError)."""
