"""The decision log: every decision a payloom policy makes, and the rewards observed later.

Two append-only DuckDB tables in schema `decisions` (DDL in DECISION_LOG_DDL):

- `decision_log`, one row per decision: decision_id (primary key), policy_name, policy_version,
  context_key (what was decided on, e.g. the attempt id), the context's entity ids (payment_id,
  card_id, customer_id, merchant_id), decided_at (UTC), candidates (a LIST of STRUCT(action,
  probability, predicted_reward): every eligible action with the probability the policy gave it
  and its model's predicted reward), chosen_action, propensity (the chosen action's probability)
  and logged_at.
- `decision_rewards`, one row per observation: decision_id, observed_at (UTC), is_approved,
  revenue_minor, currency_code, logged_at; primary key (decision_id, observed_at). A reward can
  be revised (a chargeback, a settled amount) by a later observation.

Candidates are a list inside the decision row, not a child table: the grain stays one row per
decision, a decision and its candidates are written atomically and deduplicated by one key,
and `unnest(candidates)` gives the per-(decision, action) rows off-policy evaluation needs.

Writes are idempotent: a decision_id (or a (decision_id, observed_at) reward) already logged is
skipped, so a rerun writes nothing twice; within one batch the first row of an id wins. Bad rows
(propensity outside (0, 1], chosen action not among the candidates, candidate probabilities not
summing to 1, ...) go to `decision_log_quarantine` / `decision_rewards_quarantine` with a reason,
are counted, and raise an ExcludedRowsWarning. Reading is point-in-time: `decision_log_reads`.

>>> import duckdb, warnings
>>> from datetime import datetime
>>> connection = duckdb.connect()
>>> decision = Decision("d1", "routing", "v1", "att_1", datetime(2025, 1, 1, 12),
...     (Candidate("gw_alpha", 0.25, 0.8), Candidate("gw_beta", 0.75, 0.9)), "gw_beta")
>>> append_decisions(connection, [decision])
AppendResult(received=1, written=1, already_logged=0, duplicates_in_batch=0, quarantined={})
>>> append_decisions(connection, [decision]).already_logged        # a rerun writes nothing twice
1
>>> bad = Decision("d2", "routing", "v1", "att_2", datetime(2025, 1, 1, 12), (Candidate("gw_alpha", 1.0),), "gw_gamma")
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     append_decisions(connection, [bad]).quarantined
{'chosen action not among candidates': 1}
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone

import duckdb
import pandas as pd
import pyarrow as pa

from scoring.errors import DecisionLogError, ExcludedRowsWarning

__all__ = [
    "Candidate", "Decision", "Reward", "AppendResult", "DECISION_LOG_DDL", "DECISION_SCHEMA", "REWARD_SCHEMA",
    "create_decision_log", "append_decisions", "append_rewards",
]

CANDIDATE_TYPE = pa.struct([("action", pa.string()), ("probability", pa.float64()), ("predicted_reward", pa.float64())])
DECISION_SCHEMA = pa.schema([
    ("decision_id", pa.string()), ("policy_name", pa.string()), ("policy_version", pa.string()),
    ("context_key", pa.string()), ("payment_id", pa.string()), ("card_id", pa.string()),
    ("customer_id", pa.string()), ("merchant_id", pa.string()), ("decided_at", pa.timestamp("us")),
    ("candidates", pa.list_(CANDIDATE_TYPE)), ("chosen_action", pa.string()), ("propensity", pa.float64()),
])
REWARD_SCHEMA = pa.schema([
    ("decision_id", pa.string()), ("observed_at", pa.timestamp("us")), ("is_approved", pa.bool_()),
    ("revenue_minor", pa.int64()), ("currency_code", pa.string()),
])
_DECISION_REQUIRED = ("decision_id", "policy_name", "policy_version", "context_key", "decided_at", "candidates", "chosen_action", "propensity")
_REWARD_REQUIRED = ("decision_id", "observed_at")
_DECISION_COLUMNS = """decision_id varchar, policy_name varchar, policy_version varchar, context_key varchar,
    payment_id varchar, card_id varchar, customer_id varchar, merchant_id varchar, decided_at timestamp,
    candidates struct(action varchar, probability double, predicted_reward double)[], chosen_action varchar,
    propensity double"""
_REWARD_COLUMNS = "decision_id varchar, observed_at timestamp, is_approved boolean, revenue_minor bigint, currency_code varchar"
#: The tables of the decision log (idempotent: `create ... if not exists`).
DECISION_LOG_DDL = f"""
create schema if not exists decisions;
create table if not exists decisions.decision_log ({_DECISION_COLUMNS}, logged_at timestamp not null, primary key (decision_id));
create table if not exists decisions.decision_log_quarantine ({_DECISION_COLUMNS}, reason varchar not null, quarantined_at timestamp not null);
create table if not exists decisions.decision_rewards ({_REWARD_COLUMNS}, logged_at timestamp not null, primary key (decision_id, observed_at));
create table if not exists decisions.decision_rewards_quarantine ({_REWARD_COLUMNS}, reason varchar not null, quarantined_at timestamp not null);
"""


@dataclass(frozen=True)
class Candidate:
    """One eligible action of a decision: the probability the policy gave it and its predicted reward."""

    action: str
    probability: float
    predicted_reward: float | None = None


@dataclass(frozen=True)
class Decision:
    """One decision of a policy; `propensity` defaults to the chosen candidate's probability."""

    decision_id: str
    policy_name: str
    policy_version: str
    context_key: str
    decided_at: datetime
    candidates: tuple[Candidate, ...]
    chosen_action: str
    propensity: float | None = field(default=None)
    payment_id: str | None = None
    card_id: str | None = None
    customer_id: str | None = None
    merchant_id: str | None = None

    def row(self) -> dict:
        """The decision as a DECISION_SCHEMA row (built field by field: `dataclasses.asdict` deep-copies
        every candidate, 0.2 ms a decision on the decision service's hot path)."""
        row = {item.name: getattr(self, item.name) for item in fields(self)}
        row["candidates"] = [{"action": c.action, "probability": c.probability, "predicted_reward": c.predicted_reward}
                             for c in self.candidates]
        if self.propensity is None:
            row["propensity"] = next((c.probability for c in self.candidates if c.action == self.chosen_action), None)
        return row


@dataclass(frozen=True)
class Reward:
    """What was observed about a decision's outcome at `observed_at` (UTC)."""

    decision_id: str
    observed_at: datetime
    is_approved: bool | None
    revenue_minor: int | None = None
    currency_code: str | None = None

    def row(self) -> dict:
        """The reward as a REWARD_SCHEMA row."""
        return asdict(self)


@dataclass(frozen=True)
class AppendResult:
    """Counts of one append: received = written + already_logged + duplicates_in_batch + sum(quarantined)."""

    received: int
    written: int
    already_logged: int
    duplicates_in_batch: int
    quarantined: dict[str, int]


def create_decision_log(connection: duckdb.DuckDBPyConnection) -> None:
    """Create schema `decisions` and the decision-log tables unless they exist."""
    connection.execute(DECISION_LOG_DDL)


def _conform(rows, schema: pa.Schema, required: Sequence[str], what: str) -> pa.Table:
    """`rows` (dataclasses with .row(), a pandas DataFrame or an Arrow table) as a table of `schema`."""
    if isinstance(rows, pd.DataFrame):
        table = pa.Table.from_pandas(rows, preserve_index=False)
    elif isinstance(rows, pa.Table):
        table = rows
    elif isinstance(rows, Sequence) and not isinstance(rows, str):
        table = pa.Table.from_pylist([row.row() for row in rows], schema=schema)
    else:
        raise DecisionLogError(f"{what} must be a pyarrow Table, a pandas DataFrame or a list of {what[:-1].title()} objects, got {type(rows).__name__}")
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise DecisionLogError(f"{what} lack required column(s) {', '.join(missing)}: expected {', '.join(schema.names)}")
    columns = []
    for target in schema:
        column = table[target.name] if target.name in table.column_names else pa.nulls(table.num_rows, target.type)
        if target.name == "candidates":
            column = _candidates(column)
        try:
            columns.append(column.cast(target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            raise DecisionLogError(f"{what} column {target.name!r} of type {column.type} cannot be read as {target.type}: {error}") from error
    return pa.table(columns, schema=schema)


def _candidates(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Candidate lists with a predicted_reward field (NULL when the input has none)."""
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_struct(kind.value_type):
        raise DecisionLogError(f"decisions column 'candidates' must be a list of structs (action, probability[, predicted_reward]), got {kind}")
    names = [kind.value_type.field(k).name for k in range(kind.value_type.num_fields)]
    if "action" not in names or "probability" not in names:
        raise DecisionLogError(f"each candidate needs fields 'action' and 'probability', got {', '.join(names)}")
    if "predicted_reward" in names:
        return column
    chunks = []
    for chunk in column.chunks:
        values = chunk.values
        struct = pa.StructArray.from_arrays(
            [values.field("action"), values.field("probability"), pa.nulls(len(values), pa.float64())],
            names=["action", "probability", "predicted_reward"])
        chunks.append(pa.ListArray.from_arrays(chunk.offsets, struct, mask=chunk.is_null()))
    return pa.chunked_array(chunks, pa.list_(struct.type))


_DECISION_REASON = """case
    when decision_id is null then 'decision_id missing'
    when policy_name is null or policy_version is null then 'policy name or version missing'
    when context_key is null then 'context_key missing'
    when decided_at is null then 'decided_at missing'
    when candidates is null or len(candidates) = 0 then 'no candidate actions'
    when len([c for c in candidates if c.action is null]) > 0 then 'candidate action missing'
    when len([c for c in candidates if c.probability is null or isnan(c.probability)
              or c.probability < 0 or c.probability > 1]) > 0 then 'candidate probability outside [0, 1]'
    when len(list_distinct([c.action for c in candidates])) < len(candidates) then 'duplicate candidate action'
    when abs(list_sum([c.probability for c in candidates]) - 1) > $tolerance then 'candidate probabilities do not sum to 1'
    when chosen_action is null or not list_contains([c.action for c in candidates], chosen_action)
        then 'chosen action not among candidates'
    when propensity is null or isnan(propensity) then 'propensity missing'
    when propensity <= 0 or propensity > 1 then 'propensity outside (0, 1]'
    when abs(propensity - [c.probability for c in candidates if c.action = chosen_action][1]) > $tolerance
        then 'propensity differs from the chosen candidate probability'
end"""
_REWARD_REASON = """case
    when decision_id is null then 'decision_id missing'
    when observed_at is null then 'observed_at missing'
    when is_approved is null and revenue_minor is null then 'no outcome (is_approved and revenue_minor NULL)'
    when revenue_minor < 0 then 'revenue_minor negative'
    when revenue_minor is not null and currency_code is null then 'currency_code missing'
end"""


def _append(connection, table: pa.Table, *, target: str, keys: Sequence[str], reason_sql: str, parameters: dict) -> AppendResult:
    """Quarantine bad rows of `table`, insert the new good ones into decisions.`target`, count both."""
    create_decision_log(connection)
    columns = ", ".join(table.column_names)
    key_match = " and ".join(f"logged.{key} = c.{key}" for key in keys)
    incoming = "__payloom_incoming_" + target
    connection.register(incoming, table.append_column("_input_row", pa.array(range(table.num_rows), pa.int64())))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        connection.execute("begin transaction")
        connection.execute(f"create or replace temp table __payloom_classified as select *, {reason_sql} as reason from {incoming}", parameters)
        counts = connection.execute(f"""
            select count(*) filter (where c.reason is null),
                   count(*) filter (where c.reason is null and exists (select 1 from decisions.{target} logged where {key_match}))
            from __payloom_classified c""").fetchall()[0]
        quarantined = dict(connection.execute(
            "select reason, count(*) from __payloom_classified where reason is not null group by reason order by reason").fetchall())
        connection.execute(f"""insert into decisions.{target}_quarantine
            select {columns}, reason, $now from __payloom_classified c where reason is not null
              and not exists (select 1 from decisions.{target}_quarantine logged where {key_match} and logged.reason = c.reason)""", {"now": now})
        written = connection.execute(f"""insert into decisions.{target}
            select {columns}, $now from __payloom_classified c
            where reason is null and not exists (select 1 from decisions.{target} logged where {key_match})
            qualify row_number() over (partition by {', '.join(keys)} order by _input_row) = 1""", {"now": now}).fetchall()[0][0]
        connection.execute("drop table __payloom_classified")
        connection.execute("commit")
    except duckdb.Error:
        connection.execute("rollback")
        raise
    finally:
        connection.unregister(incoming)
    clean, already = counts
    result = AppendResult(table.num_rows, written, already, clean - already - written, quarantined)
    if quarantined:
        detail = ", ".join(f"{count} {reason}" for reason, count in quarantined.items())
        warnings.warn(f"{sum(quarantined.values())} of {table.num_rows} rows quarantined in decisions.{target}_quarantine ({detail})",
                      ExcludedRowsWarning, stacklevel=3)
    return result


def append_decisions(connection: duckdb.DuckDBPyConnection, decisions, *, tolerance: float = 1e-6) -> AppendResult:
    """Append decisions (Decision objects, a DataFrame or an Arrow table with DECISION_SCHEMA's columns).

    Already-logged decision ids are skipped; bad rows are quarantined with a reason and counted.
    `tolerance` bounds |sum of candidate probabilities - 1| and |propensity - chosen probability|.
    """
    table = _conform(decisions, DECISION_SCHEMA, _DECISION_REQUIRED, "decisions")
    return _append(connection, table, target="decision_log", keys=("decision_id",), reason_sql=_DECISION_REASON,
                   parameters={"tolerance": tolerance})


def append_rewards(connection: duckdb.DuckDBPyConnection, rewards) -> AppendResult:
    """Append observed rewards (Reward objects, a DataFrame or an Arrow table with REWARD_SCHEMA's columns).

    A (decision_id, observed_at) already logged is skipped. A reward may arrive before its
    decision is logged; it becomes visible to reads once both are there.
    """
    table = _conform(rewards, REWARD_SCHEMA, _REWARD_REQUIRED, "rewards")
    return _append(connection, table, target="decision_rewards", keys=("decision_id", "observed_at"),
                   reason_sql=_REWARD_REASON, parameters={})
