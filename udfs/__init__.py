"""payloom's scoring runtime: load compiled model artifacts and score them in DuckDB.

Needs only DuckDB, NumPy, PyArrow and sqlglot (pure Python, to quote identifiers in the SQL it
writes), and the compiled libraries; not XGBoost, dbt or Feast, so services and scoring jobs
install little. Training and compiling live in `scoring`. Models load only after their sealed
manifest, names, files and paths are checked (docs/models.md, "Loading").
"""

from udfs.compiled_forest import CompiledForest
from udfs.duckdb_functions import register_artifact, register_models
from udfs.errors import ArtifactIntegrityError, InvalidNameError, ModelArtifactError, PayloomError, ScoringInputError
from udfs.model_artifact import ModelArtifact, ModelManifest, load_artifact
from udfs.model_registry import ModelRegistry
from udfs.sql_calls import score_call

__all__ = [
    "ArtifactIntegrityError",
    "CompiledForest",
    "InvalidNameError",
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
