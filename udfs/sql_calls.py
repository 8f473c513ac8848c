"""Write the SQL call of a model's scoring function, with its features in manifest order.

>>> from udfs.model_artifact import ModelManifest
>>> manifest = ModelManifest.from_dict({"name": "issuer_decline", "version": "v0001",
...     "features": [{"name": "attempts_30d", "type": "bigint"}, {"name": "amount", "type": "double"}],
...     "output": {"kind": "probability"}, "files": {}})
>>> score_call(manifest, relation_alias="f")
'score_issuer_decline(cast(f.attempts_30d as double), cast(f.amount as double))'
>>> score_call(manifest, available_columns=["attempts_30d"])
Traceback (most recent call last):
...
udfs.errors.ScoringInputError: model issuer_decline needs columns that the table lacks: amount. Expected, in order: attempts_30d, amount
"""

from __future__ import annotations

from typing import Iterable

from udfs.errors import ScoringInputError
from udfs.model_artifact import ModelManifest

__all__ = ["score_call"]


def score_call(manifest: ModelManifest, *, relation_alias: str | None = None, available_columns: Iterable[str] | None = None) -> str:
    """`score_<model>(...)` over the model's features; checks them against `available_columns` if given."""
    if available_columns is not None:
        present = {column.lower() for column in available_columns}
        missing = [name for name in manifest.feature_names if name.lower() not in present]
        if missing:
            raise ScoringInputError(
                f"model {manifest.name} needs columns that the table lacks: {', '.join(missing)}. "
                f"Expected, in order: {', '.join(manifest.feature_names)}"
            )
    prefix = f"{relation_alias}." if relation_alias else ""
    arguments = ", ".join(f"cast({prefix}{name} as double)" for name in manifest.feature_names)
    return f"{manifest.function_name}({arguments})"
