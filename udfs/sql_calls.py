"""Write the SQL call of a model's scoring function, with its features in manifest order.

The call is built with sqlglot: the relation alias and every feature name are quoted
identifiers (a quote inside a name is escaped), and the function name is checked against the
model-name rule (`udfs.identifiers`), so no name from a manifest or a caller is pasted into SQL.

>>> from udfs.model_artifact import ModelManifest
>>> manifest = ModelManifest.from_dict({"name": "issuer_decline", "version": "v0001",
...     "features": [{"name": "attempts_30d", "type": "bigint"}, {"name": "order", "type": "double"}],
...     "output": {"kind": "probability"}, "files": {}})
>>> score_call(manifest, relation_alias="f")
'score_issuer_decline(CAST("f"."attempts_30d" AS DOUBLE), CAST("f"."order" AS DOUBLE))'
>>> score_call(manifest, relation_alias="my features", dialect="spark")
'score_issuer_decline(CAST(`my features`.`attempts_30d` AS DOUBLE), CAST(`my features`.`order` AS DOUBLE))'
>>> score_call(manifest, available_columns=["attempts_30d"])
Traceback (most recent call last):
...
udfs.errors.ScoringInputError: model issuer_decline needs columns that the table lacks: order. Expected, in order: attempts_30d, order
"""

from __future__ import annotations

from typing import Iterable

from udfs.errors import ScoringInputError
from udfs.identifiers import check_model_name
from udfs.model_artifact import ModelManifest

__all__ = ["score_call"]


def score_call(
    manifest: ModelManifest, *, relation_alias: str | None = None, available_columns: Iterable[str] | None = None, dialect: str = "duckdb",
) -> str:
    """`score_<model>(...)` over the model's features, quoted for `dialect` (duckdb or spark);
    checks them against `available_columns` if given."""
    from sqlglot import exp

    if available_columns is not None:
        present = {column.lower() for column in available_columns}
        missing = [name for name in manifest.feature_names if name.lower() not in present]
        if missing:
            raise ScoringInputError(
                f"model {manifest.name} needs columns that the table lacks: {', '.join(missing)}. "
                f"Expected, in order: {', '.join(manifest.feature_names)}"
            )
    check_model_name(manifest.name)
    arguments = [
        exp.cast(exp.column(name, table=relation_alias or None, quoted=True), exp.DataType.Type.DOUBLE) for name in manifest.feature_names
    ]
    return exp.Anonymous(this=manifest.function_name, expressions=arguments).sql(dialect=dialect, normalize_functions=False)
