"""The small published models of the compiled-scoring tests, reused: the SQL export must give the
scores the compiled UDF and XGBoost give on the same models."""

from tests.compiled_scoring.conftest import binary_model, multiclass_model, registry_root, regression_model  # noqa: F401
