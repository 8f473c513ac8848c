"""Read an Open Bandit Dataset log (ZOZOTOWN, Saito et al. 2020) as a log for `evaluate_policy`.

OBD's `{behavior_policy}/{campaign}.csv` files have an unnamed row-index column, then
`timestamp, item_id, position, click, propensity_score, user_feature_0.., user-item_affinity_0..`
(the dataset's README calls the propensity `action_prob`; both names are accepted). Each row is
one impression: the item shown at one of three positions, whether it was clicked, and the
probability with which the behaviour policy put that item at that position.

The view this module creates has the columns `evaluate_policy` reads by default —
context_id (the row index, as text), action (item_id), reward (click), propensity — and the
context: logged_at (UTC), position, user_feature_* and user_item_affinity_* (hyphen replaced).
The position is part of the context: a target policy gives pi(item | user, position) per row.

>>> import duckdb, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "all.csv"
>>> _ = path.write_text(",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0\\n"
...                     "0,2019-11-24 00:03:13.442536+00:00,14,3,0,0.0125,cef3390e,0.0\\n")
>>> connection = duckdb.connect()
>>> log = register_open_bandit_log(connection, path)
>>> connection.sql(f"select context_id, action, position, reward, propensity from {log.view}").fetchall()
[('0', 14, 3, 0.0, 0.0125)]
>>> log.context_columns
('position', 'user_feature_0', 'user_item_affinity_0')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from scoring.errors import InvalidPolicyInputNameError, PolicyEvaluationError
from scoring.sql_identifiers import check_identifier, string_literal
from udfs.identifiers import quote_identifier

__all__ = ["OpenBanditLog", "register_open_bandit_log", "OPEN_BANDIT_COLUMNS"]

#: Columns every OBD log has (besides the index, the features and the propensity).
OPEN_BANDIT_COLUMNS = ("timestamp", "item_id", "position", "click")
_PROPENSITY_NAMES = ("propensity_score", "action_prob")


@dataclass(frozen=True)
class OpenBanditLog:
    """The view over an OBD CSV file and its context columns."""

    view: str
    context_columns: tuple[str, ...]
    path: Path


def _quoted(identifier: str) -> str:
    """A column of the CSV file as a DuckDB identifier, quoted through sqlglot (OBD's names hold hyphens)."""
    return quote_identifier(identifier, "duckdb")


def register_open_bandit_log(connection: duckdb.DuckDBPyConnection, csv_path: Path | str, *, view: str = "open_bandit_log") -> OpenBanditLog:
    """Create temp view `view` over the OBD CSV at `csv_path` (module docstring) and return it.

    `view` is a plain SQL identifier (`scoring.sql_identifiers`; reserved words and mixed case are
    quoted); anything else raises InvalidPolicyInputNameError (a PolicyEvaluationError) and creates nothing.
    """
    check_identifier(view, what="view", error=InvalidPolicyInputNameError)
    path = Path(csv_path).resolve()
    if not path.is_file():
        raise PolicyEvaluationError(f"no Open Bandit Dataset CSV at {path}: expected a file like <behavior_policy>/<campaign>.csv")
    source = f"read_csv({string_literal(str(path))}, header = true)"
    try:
        types = dict(connection.execute(f"select column_name, column_type from (describe select * from {source})").fetchall())
    except duckdb.Error as error:
        raise PolicyEvaluationError(f"{path} cannot be read as a CSV file with a header: {error}") from error
    names = list(types)
    missing = [name for name in OPEN_BANDIT_COLUMNS if name not in names]
    propensity = next((name for name in _PROPENSITY_NAMES if name in names), None)
    if missing or propensity is None:
        missing += [] if propensity else [" or ".join(_PROPENSITY_NAMES)]
        raise PolicyEvaluationError(f"{path} is not an Open Bandit Dataset log: it lacks {', '.join(missing)} "
                                    f"(its columns: {', '.join(names)}); expected {', '.join(OPEN_BANDIT_COLUMNS)}, "
                                    "propensity_score, user_feature_*, user-item_affinity_*")
    known = set(OPEN_BANDIT_COLUMNS) | {propensity}
    index = names[0] if names[0] not in known and not names[0].startswith(("user_feature_", "user-item_affinity_")) else None
    features = [name for name in names if name.startswith(("user_feature_", "user-item_affinity_"))]
    context_id = f"{_quoted(index)}::varchar" if index else "(row_number() over () - 1)::varchar"
    feature_sql = "".join(f",\n        {_quoted(name)} as {_quoted(name.replace('-', '_'))}" for name in features)
    # OBD stamps carry an offset (+00:00); a stamp without one is taken as UTC, never as the session's zone
    logged_at = "timezone('UTC', \"timestamp\")" if types["timestamp"] == "TIMESTAMP WITH TIME ZONE" else '"timestamp"::timestamp'
    connection.execute(f"""create or replace temp view {_quoted(view)} as
    select
        {context_id} as context_id,
        {logged_at} as logged_at,
        item_id as action,
        position,
        click::double as reward,
        {_quoted(propensity)}::double as propensity{feature_sql}
    from {source}""")
    return OpenBanditLog(view, ("position", *(name.replace("-", "_") for name in features)), path)
