"""Read the decision log back as of an instant: decisions with their point-in-time rewards.

As of `as_of` (UTC), a decision is visible when decided_at <= as_of, and its reward is the
newest observation with decided_at <= observed_at <= as_of: a reward observed after the
evaluation instant is not seen, and a revised reward replaces the earlier one only from its
own observed_at on. Decisions without a visible reward keep NULL reward columns
(`has_reward` false). `create_bandit_views` turns the same rows into the relations that
`scoring.off_policy.evaluate_policy` reads.

>>> import duckdb, warnings
>>> from datetime import datetime
>>> from scoring.decision_log import Candidate, Decision, Reward, append_decisions, append_rewards
>>> connection = duckdb.connect()
>>> _ = append_decisions(connection, [Decision("d1", "routing", "v1", "att_1", datetime(2025, 1, 1, 12),
...     (Candidate("gw_alpha", 0.5, 0.7), Candidate("gw_beta", 0.5, 0.9)), "gw_beta")])
>>> _ = append_rewards(connection, [Reward("d1", datetime(2025, 1, 1, 12, 0, 1), True, 1999, "USD"),
...                                 Reward("d1", datetime(2025, 2, 1), False, 0, "USD")])   # a chargeback
>>> def seen(as_of):
...     return read_decisions(connection, as_of=as_of).select(["decision_id", "is_approved"]).to_pylist()
>>> seen(datetime(2025, 1, 1, 12))           # decided, reward not observed yet
[{'decision_id': 'd1', 'is_approved': None}]
>>> seen(datetime(2025, 1, 15)), seen(datetime(2025, 3, 1))
([{'decision_id': 'd1', 'is_approved': True}], [{'decision_id': 'd1', 'is_approved': False}])
>>> views = create_bandit_views(connection, as_of=datetime(2025, 1, 15))
>>> connection.sql(f"select * from {views.log}").fetchall()
[('d1', 'gw_beta', 1.0, 0.5)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from scoring.decision_log import create_decision_log
from scoring.errors import DecisionLogError, InvalidDecisionLogNameError
from scoring.sql_identifiers import check_identifier
from udfs.identifiers import quote_identifier

__all__ = ["decisions_as_of_sql", "read_decisions", "create_bandit_views", "BanditViews", "REWARD_COLUMNS"]

#: Reward columns a bandit view can use, and the SQL giving each as a DOUBLE.
REWARD_COLUMNS = {"is_approved": "is_approved::double", "revenue_minor": "revenue_minor::double"}


def _timestamp_literal(instant: datetime) -> str:
    """A DuckDB TIMESTAMP literal of `instant` in UTC (naive instants are UTC)."""
    if not isinstance(instant, datetime):
        raise DecisionLogError(f"as_of must be a datetime (naive = UTC), got {type(instant).__name__} {instant!r}")
    if instant.tzinfo is not None:
        instant = instant.astimezone(timezone.utc).replace(tzinfo=None)
    return f"timestamp '{instant.isoformat(sep=' ')}'"


def _string_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def decisions_as_of_sql(as_of: datetime, *, policy_name: str | None = None, policy_version: str | None = None) -> str:
    """SQL selecting the decisions visible at `as_of`, each with its newest reward observed by then.

    >>> "observed_at <= timestamp '2025-01-01 00:00:00'" in decisions_as_of_sql(datetime(2025, 1, 1))
    True
    """
    instant = _timestamp_literal(as_of)
    filters = [f"decided_at <= {instant}"]
    if policy_name is not None:
        filters.append(f"policy_name = {_string_literal(policy_name)}")
    if policy_version is not None:
        filters.append(f"policy_version = {_string_literal(policy_version)}")
    return f"""
with visible_decisions as (
    select * exclude (logged_at) from decisions.decision_log where {' and '.join(filters)}
),
visible_rewards as (
    select rewards.decision_id, rewards.observed_at, rewards.is_approved, rewards.revenue_minor, rewards.currency_code
    from decisions.decision_rewards as rewards
    inner join visible_decisions on rewards.decision_id = visible_decisions.decision_id
    where rewards.observed_at <= {instant} and rewards.observed_at >= visible_decisions.decided_at
    qualify row_number() over (partition by rewards.decision_id order by rewards.observed_at desc) = 1
),
final as (
    select
        visible_decisions.*,
        visible_rewards.observed_at as reward_observed_at,
        visible_rewards.is_approved,
        visible_rewards.revenue_minor,
        visible_rewards.currency_code,
        visible_rewards.decision_id is not null as has_reward
    from visible_decisions
    left join visible_rewards on visible_decisions.decision_id = visible_rewards.decision_id
)
select * from final order by decided_at, decision_id"""


def read_decisions(
    connection: duckdb.DuckDBPyConnection, *, as_of: datetime, policy_name: str | None = None, policy_version: str | None = None
) -> pa.Table:
    """The decisions visible at `as_of` with their point-in-time rewards (see decisions_as_of_sql)."""
    create_decision_log(connection)
    return connection.sql(decisions_as_of_sql(as_of, policy_name=policy_name, policy_version=policy_version)).to_arrow_table()


@dataclass(frozen=True)
class BanditViews:
    """Names of the views `create_bandit_views` made, ready for `evaluate_policy`."""

    log: str
    """context_id (= decision_id), action (= chosen_action), reward, propensity: decisions with a visible reward."""
    reward_model: str
    """context_id, action, predicted_reward: every candidate of those decisions (the logging policy's model)."""
    logging_policy: str
    """context_id, action, probability: every candidate of those decisions (the logging policy)."""


def create_bandit_views(
    connection: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    reward: str = "is_approved",
    policy_name: str | None = None,
    policy_version: str | None = None,
    prefix: str = "bandit",
) -> BanditViews:
    """Temporary views `<prefix>_log`, `<prefix>_reward_model`, `<prefix>_logging_policy` over the
    decisions visible at `as_of` whose reward is known by then.

    `reward` is `is_approved` (1.0 / 0.0) or `revenue_minor`. The candidates' predicted_reward
    is the logging policy's own estimate; it is a sensible reward model for `is_approved` only.
    `prefix` is a plain SQL identifier (reserved words and mixed case are quoted); anything else
    raises InvalidDecisionLogNameError (a DecisionLogError) and creates nothing.
    """
    if reward not in REWARD_COLUMNS:
        raise DecisionLogError(f"reward must be one of {', '.join(REWARD_COLUMNS)}, got {reward!r}")
    check_identifier(prefix, what="view prefix", error=InvalidDecisionLogNameError)
    create_decision_log(connection)
    visible = decisions_as_of_sql(as_of, policy_name=policy_name, policy_version=policy_version)
    views = BanditViews(f"{prefix}_log", f"{prefix}_reward_model", f"{prefix}_logging_policy")
    rewarded = f"(select * from ({visible}) where has_reward and {reward} is not null)"
    connection.execute(f"""create or replace temp view {quote_identifier(views.log, 'duckdb')} as
        select decision_id as context_id, chosen_action as action, {REWARD_COLUMNS[reward]} as reward, propensity
        from {rewarded}""")
    for name, column in ((views.reward_model, "predicted_reward"), (views.logging_policy, "probability")):
        connection.execute(f"""create or replace temp view {quote_identifier(name, 'duckdb')} as
            select context_id, candidate.action as action, candidate.{column} as {column}
            from (select decision_id as context_id, unnest(candidates) as candidate from {rewarded})""")
    return views
