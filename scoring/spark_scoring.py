"""Batch scoring on Spark: the same compiled model DuckDB calls, in an Arrow UDF, or its SQL export.

Two ways to score a Spark DataFrame with a registered model:

- `score_with_compiled_model(frame, registry, model)`: `DataFrame.mapInArrow` hands each
  executor Arrow record batches; the executor loads the model's compiled library from the
  registry (once per process) and calls `CompiledForest.predict` on the feature columns, exactly
  as DuckDB's `score_<model>` UDF does (NULL and NaN are missing; inputs read as float32 by the
  library). The output column has the UDF's type: DOUBLE (binary: P(positive class); regression:
  the value) or a STRUCT of one DOUBLE per class (multiclass).
- `score_with_sql_export(spark, registry, model, relation)`: the model rendered as Spark SQL by
  `scoring.sql_export` (CASE expressions compared as FLOAT), run by Spark itself: no Python on
  the executors at all.

Both give the DuckDB scores (tests/sql_export/test_spark_scoring.py, within 1e-6, on split
thresholds, NaN and NULL). The executors' Python must import payloom (locally: set
`PYSPARK_PYTHON` to the virtualenv's python before the SparkSession starts), and the registry
folder must be readable by every executor (on a cluster: shared storage, or
`SparkContext.addFile` of the version folder; locally it is a path).

>>> output_type_name({"kind": "probability"}, [])
'double'
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.errors import ScoringInputError
from udfs.identifiers import quote_identifier, struct_of_doubles
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["score_with_compiled_model", "score_with_sql_export", "output_type_name"]


def output_type_name(output: dict[str, Any], classes: list[str]) -> str:
    """The Spark SQL type of a model's score column, as DuckDB's `score_<model>` returns it."""
    if output.get("kind") == "class_probabilities":
        return struct_of_doubles(classes, "spark")
    return "double"


@functools.lru_cache(maxsize=16)
def _artifact(registry: str, model: str, version: str) -> ModelArtifact:
    """The model's artifact, loaded once per executor process."""
    return ModelRegistry(registry).load(model, version)


def _score_batches(batches: Iterator[pa.RecordBatch], registry: str, model: str, version: str, column: str) -> Iterator[pa.RecordBatch]:
    artifact = _artifact(registry, model, version)
    names = artifact.manifest.feature_names
    classes = artifact.manifest.class_names if artifact.manifest.output["kind"] == "class_probabilities" else None
    for batch in batches:
        features = [pc.cast(batch.column(name), pa.float64()) for name in names]
        scores = artifact.forest.predict(features).astype(np.float64)
        if classes is None:
            result: pa.Array = pa.array(scores[:, 0], pa.float64())
        else:
            result = pa.StructArray.from_arrays([pa.array(scores[:, index], pa.float64()) for index in range(len(classes))],
                                                names=list(classes))
        yield pa.RecordBatch.from_arrays([*batch.columns, result], names=[*batch.schema.names, column])


def score_with_compiled_model(frame: "DataFrame", registry: Path | str, model: str, *, version: str | None = None,
                              output_column: str | None = None) -> "DataFrame":
    """`frame` plus a score column (default `score_<model>`) from the compiled library (module docstring).

    Raises ScoringInputError naming the model's features `frame` lacks, and when the output
    column already exists.
    """
    registry_path = str(Path(registry).resolve())
    artifact = ModelRegistry(registry_path).load(model, version)
    manifest = artifact.manifest
    column = output_column or manifest.function_name
    missing = [name for name in manifest.feature_names if name not in frame.columns]
    if missing:
        raise ScoringInputError(f"model {manifest.name} {manifest.version} needs columns {', '.join(missing)}; "
                                f"the DataFrame has {', '.join(frame.columns)}")
    if column in frame.columns:
        raise ScoringInputError(f"the DataFrame already has a column {column!r}; pass another output_column")
    classes = manifest.class_names if manifest.output["kind"] == "class_probabilities" else []
    schema = ", ".join(f"{quote_identifier(field.name, 'spark')} {field.dataType.simpleString()}" for field in frame.schema.fields)
    schema += f", {quote_identifier(column, 'spark')} {output_type_name(manifest.output, classes)}"
    version_found = manifest.version
    return frame.mapInArrow(
        lambda batches: _score_batches(batches, registry_path, model, version_found, column), schema)


def score_with_sql_export(spark: "SparkSession", registry: Path | str, model: str, relation: str, *, version: str | None = None,
                          keep_columns: list[str] | None = None) -> "DataFrame":
    """Score table or view `relation` with the model's Spark SQL export; keeps `keep_columns`."""
    from scoring.sql_export import export_sql

    export = export_sql(registry, model, dialect="spark", version=version, relation=relation, keep_columns=keep_columns or [])
    (query,) = export.statements
    return spark.sql(query)
