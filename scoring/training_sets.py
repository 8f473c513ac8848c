"""Read a training set from the warehouse into arrays, and split it by time.

Models train on the point-in-time training views dbt builds (`training.*`). Rows come back
ordered by their timestamp; NULL features become NaN (XGBoost's "missing"), so the compiled
model, which reads SQL NULL as missing, sees exactly what training saw.

>>> import duckdb
>>> connection = duckdb.connect()
>>> _ = connection.execute("create table t as select i as id, timestamp '2025-01-01' + to_days(i) as at, "
...     "case when i % 3 = 0 then null else i end as x, i % 2 = 0 as y from range(10) r(i)")
>>> frame = load_training_frame(connection, "t", ["x"], timestamp_column="at", label_columns=["y"], key_column="id")
>>> frame.features.shape, int(np.isnan(frame.features).sum()), frame.labels["y"].tolist()[:3]
((10, 1), 4, [True, False, True])
>>> [len(part) for part in time_ordered_split(frame, fractions=(0.6, 0.2, 0.2))]
[6, 2, 2]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

import duckdb
import numpy as np

from scoring.errors import ModelTrainingError
from scoring.sql_identifiers import check_identifier, relation_sql
from udfs.identifiers import quote_identifier

__all__ = ["TrainingFrame", "load_training_frame", "time_ordered_split"]


@dataclass
class TrainingFrame:
    """Feature matrix (float64, NaN = missing), labels, keys and timestamps, in time order."""

    feature_names: list[str]
    feature_types: list[str]
    features: np.ndarray
    labels: dict[str, np.ndarray]
    keys: np.ndarray
    timestamps: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, selection: slice | np.ndarray) -> "TrainingFrame":
        """The frame restricted to `selection` (a slice or a boolean / index array)."""
        return TrainingFrame(
            feature_names=self.feature_names,
            feature_types=self.feature_types,
            features=self.features[selection],
            labels={name: values[selection] for name, values in self.labels.items()},
            keys=self.keys[selection],
            timestamps=self.timestamps[selection],
            extras={name: values[selection] for name, values in self.extras.items()},
        )

    def fingerprint(self) -> str:
        """sha256 over keys, features and labels: which data a model was trained on."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.feature_names).encode())
        digest.update(np.ascontiguousarray(self.features).tobytes())
        for name in sorted(self.labels):
            digest.update(np.asarray(self.labels[name]).astype(str).astype(bytes).tobytes())
        digest.update(self.keys.astype(str).astype(bytes).tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, object]:
        """Rows and time range, for the model manifest."""
        return {
            "rows": len(self),
            "from": str(self.timestamps.min()) if len(self) else None,
            "to": str(self.timestamps.max()) if len(self) else None,
            "fingerprint": self.fingerprint(),
        }


def load_training_frame(
    connection: duckdb.DuckDBPyConnection,
    relation: str,
    feature_columns: Sequence[str],
    *,
    timestamp_column: str,
    label_columns: Sequence[str],
    key_column: str,
    extra_columns: Sequence[str] = (),
    where: str | None = None,
) -> TrainingFrame:
    """Read `relation` ordered by `timestamp_column`, features cast to DOUBLE (NULL -> NaN).

    `relation` (optionally schema-qualified) and every column are quoted SQL identifiers; a name that
    is not one raises InvalidIdentifierError before anything is read. `where` is a SQL condition,
    written by the caller.
    """
    source = relation_sql(relation, what="training set relation")
    wanted = [*feature_columns, timestamp_column, *label_columns, key_column, *extra_columns]
    for name in wanted:
        check_identifier(name, what="training set column")
    available = {row[0].lower(): row[1] for row in connection.execute(f"describe {source}").fetchall()}
    missing = [name for name in wanted if name.lower() not in available]
    if missing:
        raise ModelTrainingError(
            f"{relation} lacks columns {', '.join(missing)}; rebuild the warehouse (payloom build) "
            f"or pass feature columns it has: {', '.join(sorted(available))}"
        )
    columns = [f"cast({_quoted(name)} as double) as {_quoted(name)}" for name in feature_columns]
    columns += [_quoted(name) for name in (timestamp_column, *label_columns, key_column, *extra_columns)]
    query = f"select {', '.join(columns)} from {source}"
    if where:
        query += f" where {where}"
    query += f" order by {_quoted(timestamp_column)}, {_quoted(key_column)}"
    table = connection.sql(query).to_arrow_table()
    if feature_columns:
        features = np.column_stack([table[name].to_numpy(zero_copy_only=False).astype(np.float64) for name in feature_columns])
    else:
        features = np.zeros((table.num_rows, 0))

    def column(name: str) -> np.ndarray:
        return table[name].to_numpy(zero_copy_only=False)

    return TrainingFrame(
        feature_names=list(feature_columns),
        feature_types=[available[name.lower()].lower() for name in feature_columns],
        features=features,
        labels={name: column(name) for name in label_columns},
        keys=column(key_column),
        timestamps=column(timestamp_column),
        extras={name: column(name) for name in extra_columns},
    )


def _quoted(identifier: str) -> str:
    return quote_identifier(identifier, "duckdb")


def time_ordered_split(frame: TrainingFrame, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> tuple[TrainingFrame, TrainingFrame, TrainingFrame]:
    """Train / validation / test by time: each part strictly later than the one before.

    The cut points are rounded to whole timestamps, so rows sharing an instant stay together.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) <= 0:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
    if len(frame) < 3:
        raise ModelTrainingError(f"{len(frame)} rows cannot be split into train, validation and test; simulate more attempts")
    first = int(round(len(frame) * fractions[0]))
    second = int(round(len(frame) * (fractions[0] + fractions[1])))
    first = int(np.searchsorted(frame.timestamps, frame.timestamps[first], side="left")) or first
    second = int(np.searchsorted(frame.timestamps, frame.timestamps[min(second, len(frame) - 1)], side="left")) or second
    return frame.rows(slice(0, first)), frame.rows(slice(first, second)), frame.rows(slice(second, len(frame)))
