"""Register every promoted model as a SQL function on a DuckDB connection.

    import duckdb
    from udfs import register_models
    connection = duckdb.connect("warehouse.duckdb")
    register_models(connection, "build/models")
    connection.sql("select score_issuer_decline(attempts_30d, ...) from features")

Each model becomes `score_<model>(feature, ...)`: a vectorised Arrow UDF over DOUBLE arguments
in the manifest's feature order. NULL means "missing" exactly as NaN does in XGBoost (the
function is called with NULLs, `null_handling='special'`, and never returns a NULL score). A
binary model returns P(positive class) as DOUBLE; a multiclass model a STRUCT with one DOUBLE
per class name; a regression model its value.

`payloom_model_features('<model>')` returns the model's feature names in order, and
`payloom_score_call('<model>', '<alias>')` the whole call (`udfs.sql_calls.score_call`); the dbt
macro `score` uses the latter, so nobody types thirty arguments and Python and dbt expand the
call the same way. `payloom_model_version('<model>')` is the registered version, or NULL when
no such model is registered (dbt models use it to build empty before the first training).

A model whose manifest carries a `decision_policy` (the issuer-decline model) also gets its
policy macro, `decline_action_<model>(...)` (`udfs.decline_actions`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from duckdb import sqltypes

from udfs.decline_actions import register_decline_action
from udfs.errors import ModelArtifactError
from udfs.model_artifact import ModelArtifact, ModelManifest
from udfs.model_registry import ModelRegistry
from udfs.sql_calls import score_call

__all__ = [
    "register_models", "register_artifacts", "register_artifact", "register_policies", "MODEL_FEATURES_FUNCTION", "SCORE_CALL_FUNCTION",
    "MODEL_VERSION_FUNCTION",
]

MODEL_FEATURES_FUNCTION = "payloom_model_features"
SCORE_CALL_FUNCTION = "payloom_score_call"
MODEL_VERSION_FUNCTION = "payloom_model_version"


def register_models(connection: duckdb.DuckDBPyConnection, registry: ModelRegistry | Path | str, names: list[str] | None = None) -> list[str]:
    """Register `score_<model>` for each promoted model (or only `names`); returns the function names."""
    registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
    wanted = names if names is not None else registry.names()
    return register_artifacts(connection, [registry.load(name) for name in wanted], source=str(registry.root))


def register_artifacts(connection: duckdb.DuckDBPyConnection, artifacts: list[ModelArtifact], *, source: str = "") -> list[str]:
    """Register already loaded (checksum-verified) artifacts, plus the lookup functions over them."""
    registered = [register_artifact(connection, artifact) for artifact in artifacts]
    registered += register_policies(connection, artifacts)
    _register_lookups(connection, {artifact.manifest.name: artifact.manifest for artifact in artifacts}, source)
    return registered


def register_policies(connection: duckdb.DuckDBPyConnection, artifacts: list[ModelArtifact]) -> list[str]:
    """The decision-policy macros of `artifacts` (SQL macros are per connection: a cursor needs its own)."""
    return [
        register_decline_action(connection, artifact.manifest.name, artifact.manifest.details["decision_policy"])
        for artifact in artifacts
        if artifact.manifest.details.get("decision_policy")
    ]


def register_artifact(connection: duckdb.DuckDBPyConnection, artifact: ModelArtifact) -> str:
    """Register one loaded artifact as `score_<model>`; returns the function name."""
    manifest = artifact.manifest
    forest = artifact.forest
    kind = manifest.output["kind"]
    if kind == "class_probabilities":
        classes = manifest.class_names
        if len(classes) != forest.num_outputs:
            raise ModelArtifactError(f"{manifest.name}: manifest names {len(classes)} classes, the library outputs {forest.num_outputs}")
        return_type = duckdb.struct_type({name: sqltypes.DOUBLE for name in classes})
        struct_type = pa.struct([(name, pa.float64()) for name in classes])

        def score(*columns):
            scores = forest.predict(columns).astype(np.float64)
            return pa.StructArray.from_arrays([pa.array(scores[:, index]) for index in range(len(classes))], fields=list(struct_type))
    else:
        return_type = sqltypes.DOUBLE

        def score(*columns):
            return pa.array(forest.predict(columns)[:, 0].astype(np.float64))

    name = manifest.function_name
    _drop_if_registered(connection, name)
    connection.create_function(
        name,
        _with_arity(score, len(manifest.features)),
        [sqltypes.DOUBLE] * len(manifest.features),
        return_type,
        type="arrow",
        null_handling="special",
        side_effects=False,
    )
    return name


def _register_lookups(connection: duckdb.DuckDBPyConnection, manifests: dict[str, ModelManifest], source: str) -> None:
    def manifest_of(name: str) -> ModelManifest:
        if name not in manifests:
            raise ModelArtifactError(
                f"no model {name!r} is registered on this connection (registry {source}: {', '.join(sorted(manifests)) or 'none'})"
            )
        return manifests[name]

    def model_features(name: str) -> list[str]:
        return manifest_of(name).feature_names

    def model_score_call(name: str, relation_alias: str) -> str:
        return score_call(manifest_of(name), relation_alias=relation_alias or None)

    def model_version(name: str) -> str | None:
        return manifests[name].version if name in manifests else None

    _drop_if_registered(connection, MODEL_VERSION_FUNCTION)
    connection.create_function(
        MODEL_VERSION_FUNCTION, model_version, [sqltypes.VARCHAR], sqltypes.VARCHAR, null_handling="special", side_effects=False
    )
    _drop_if_registered(connection, MODEL_FEATURES_FUNCTION)
    connection.create_function(MODEL_FEATURES_FUNCTION, model_features, [sqltypes.VARCHAR], duckdb.list_type(sqltypes.VARCHAR), side_effects=False)
    _drop_if_registered(connection, SCORE_CALL_FUNCTION)
    connection.create_function(SCORE_CALL_FUNCTION, model_score_call, [sqltypes.VARCHAR, sqltypes.VARCHAR], sqltypes.VARCHAR, side_effects=False)


def _with_arity(function, arity: int):
    """`function(*columns)` as a function of exactly `arity` positional parameters: DuckDB reads the
    arity of a UDF from its signature."""
    names = ", ".join(f"feature_{index}" for index in range(arity))
    namespace: dict = {"function": function}
    exec(f"def scorer({names}):\n    return function({names})\n", namespace)  # noqa: S102 - names are generated, not user input
    return namespace["scorer"]


def _drop_if_registered(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    try:
        connection.remove_function(name)
    except (duckdb.InvalidInputException, duckdb.CatalogException):
        pass
