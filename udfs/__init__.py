"""payloom's scoring runtime: load compiled model artifacts and score them in DuckDB.

Needs only DuckDB, NumPy and PyArrow (and the compiled libraries), not XGBoost, dbt or Feast,
so services and scoring jobs install little. Training and compiling live in `scoring`.
"""

from udfs.compiled_forest import CompiledForest
from udfs.duckdb_functions import register_artifact, register_models
from udfs.errors import ModelArtifactError, PayloomError, ScoringInputError
from udfs.model_artifact import ModelArtifact, ModelManifest, load_artifact
from udfs.model_registry import ModelRegistry
from udfs.sql_calls import score_call

__all__ = [
    "CompiledForest",
    "ModelArtifact",
    "ModelArtifactError",
    "ModelManifest",
    "ModelRegistry",
    "PayloomError",
    "ScoringInputError",
    "load_artifact",
    "register_artifact",
    "register_models",
    "score_call",
]
