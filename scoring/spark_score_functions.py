"""The registry's promoted models as Spark SQL functions, for the score models of a Spark build.

On DuckDB the plugin `udfs.dbt_plugin` registers `score_<model>` (the compiled model),
`decline_action_<model>` (a decision policy) and the lookups the `score` macro and the score
models call. Spark has none of them, so `payloom build --target spark` writes, for every
promoted model of the workspace registry:

- the model as temporary SQL functions with the UDF's name, arguments and type
  (`scoring.sql_export`, dialect `spark_function`), and its decision policy, if any, as
  `decline_action_<model>` (`udfs.decline_actions.decline_action_spark_function`), into one
  file, one statement per line; the on-run-start macro `register_score_functions` reads it
  with Spark and runs each statement in dbt's SparkSession;
- dbt vars: `score_functions_file` (that file) and `score_models` ({model: {version,
  features}}), from which the Spark `score` and `model_version` macros write what
  `payloom_score_call` and `payloom_model_version` return on DuckDB.

A registry without promoted models passes no vars: the score models build empty, as on DuckDB.

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> score_function_variables(folder / "models", folder / "spark" / "score_functions.sql")
{}
"""

from __future__ import annotations

from pathlib import Path

from scoring.errors import SqlExportError
from scoring.sql_export import export_artifact_sql
from udfs.decline_actions import TYPE_FIELDS, decline_action_spark_function
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry

__all__ = ["score_function_statements", "score_function_variables", "FUNCTIONS_FILE_VARIABLE", "MODELS_VARIABLE"]

FUNCTIONS_FILE_VARIABLE = "score_functions_file"
MODELS_VARIABLE = "score_models"


def score_function_statements(artifacts: list[ModelArtifact]) -> list[str]:
    """The `CREATE OR REPLACE TEMPORARY FUNCTION` statements of `artifacts`, in an order Spark can run."""
    by_name = {artifact.manifest.name: artifact for artifact in artifacts}
    statements: list[str] = []
    for artifact in artifacts:
        statements += export_artifact_sql(artifact, dialect="spark_function").statements
        policy = artifact.manifest.details.get("decision_policy")
        if policy:
            type_model = by_name.get(str(policy.get("type_model", "")))
            classes = type_model.manifest.class_names if type_model is not None else list(TYPE_FIELDS)
            statements.append(decline_action_spark_function(artifact.manifest.name, policy, classes))
    for statement in statements:
        if "\n" in statement:
            raise SqlExportError(f"a Spark function statement spans lines (the file is read one line per statement): {statement[:120]}")
    return statements


def score_function_variables(registry: ModelRegistry | Path | str, functions_file: Path) -> dict[str, object]:
    """Write the promoted models' statements to `functions_file`; the dbt vars that point at it.

    Empty (and the file removed) when the registry has no promoted model.
    """
    registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
    artifacts = registry.load_all()
    if not artifacts:
        functions_file.unlink(missing_ok=True)  # a stale file would describe models no longer promoted
        return {}
    functions_file.parent.mkdir(parents=True, exist_ok=True)
    functions_file.write_text("".join(f"{statement}\n" for statement in score_function_statements(artifacts)))
    return {
        FUNCTIONS_FILE_VARIABLE: str(functions_file.resolve()),
        MODELS_VARIABLE: {
            artifact.manifest.name: {"version": artifact.manifest.version, "features": artifact.manifest.feature_names}
            for artifact in artifacts
        },
    }
