"""Off-policy evaluation in SQL: estimate a target policy's mean reward from a log of another policy.

For logged rows i = 1..n (context x_i, action a_i, reward r_i, propensity p_i = mu(a_i | x_i)),
a target policy pi(a | x) and optionally a reward model q(x, a), with w_i = pi(a_i | x_i) / p_i:

    IPS          mean(w_i r_i)
    clipped IPS  mean(min(w_i, max_weight) r_i)
    SNIPS        sum(w_i r_i) / sum(w_i)
    DM           mean(sum_a pi(a | x_i) q(x_i, a))
    DR           mean(sum_a pi(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)))

Each comes with a standard error and a normal-approximation confidence interval: for the
means, the sample standard deviation of the per-row terms over sqrt(n); for SNIPS, the delta
method, SE = sqrt(sum (w_i (r_i - SNIPS))^2 / (n - 1) / n) / mean(w_i). DM's interval counts the
spread over contexts only, not the reward model's error.

Rows with a NULL context, action or reward are left out of every estimate; rows whose
propensity is NULL, NaN, <= 0 or > 1 are left out of the weighted estimators (IPS, clipped
IPS, SNIPS, DR) but kept by DM. Both are counted and warned about (ExcludedRowsWarning),
never divided by. The whole computation is one SQL query (`estimator_sql`) over any tables or
views, named through LogColumns; `scoring.off_policy_inputs.check_inputs` runs first.

>>> import duckdb
>>> connection = duckdb.connect()
>>> _ = connection.execute('''create table logged as select * from (values
...     ('c1', 'a', 1.0, 0.5), ('c2', 'b', 0.0, 0.5), ('c3', 'a', 1.0, 0.25)) as t(context_id, action, reward, propensity)''')
>>> _ = connection.execute('''create table target as select context_id, action, probability from (values
...     ('c1', 'a', 1.0), ('c1', 'b', 0.0), ('c2', 'a', 1.0), ('c2', 'b', 0.0), ('c3', 'a', 0.5), ('c3', 'b', 0.5))
...     as t(context_id, action, probability)''')
>>> evaluation = evaluate_policy(connection, "logged", "target")
>>> round(evaluation.estimates["ips"].value, 6), round(evaluation.estimates["snips"].value, 6)   # (2 + 0 + 2) / 3, 4 / 4
(1.333333, 1.0)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from statistics import NormalDist

import duckdb
import pyarrow as pa

from scoring.errors import ExcludedRowsWarning, InvalidPolicyInputNameError, PolicyEvaluationError
from scoring.off_policy_inputs import EXCLUDED_FROM_ALL, EXCLUSION_SQL, LogColumns, check_inputs, relation_sql
from scoring.sql_identifiers import column_sql

__all__ = ["PolicyEstimate", "PolicyEvaluation", "estimator_sql", "evaluate_policy", "ESTIMATORS", "LogColumns"]

#: Estimators in report order; DM and DR need a reward model.
ESTIMATORS = ("ips", "clipped_ips", "snips", "dm", "dr")


@dataclass(frozen=True)
class PolicyEstimate:
    """One estimator's estimate of the target policy's mean reward per decision."""

    estimator: str
    value: float | None
    standard_error: float | None
    ci_low: float | None
    ci_high: float | None
    rows_used: int

    def covers(self, value: float) -> bool:
        """Whether the confidence interval contains `value`."""
        return self.ci_low is not None and self.ci_low <= value <= self.ci_high


@dataclass(frozen=True)
class PolicyEvaluation:
    """The estimates, how many logged rows there were, and how many were left out and why."""

    estimates: dict[str, PolicyEstimate]
    rows_logged: int
    rows_excluded: dict[str, int]
    confidence: float
    max_weight: float
    target_mass_outside_logging_support: float | None = None
    """Mean target probability on actions the logging policy never takes (needs logging_policy); > 0 biases IPS."""

    def to_arrow(self) -> pa.Table:
        """One row per estimator: estimator, value, standard_error, ci_low, ci_high, rows_used."""
        return pa.Table.from_pylist([vars(estimate) for estimate in self.estimates.values()])


def _column(name: str) -> str:
    """A column of LogColumns, quoted through sqlglot (checked again: a LogColumns may have been altered)."""
    return column_sql(name, error=InvalidPolicyInputNameError)


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise PolicyEvaluationError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def estimator_sql(
    log: str, target: str, *, reward_model: str | None = None, columns: LogColumns = LogColumns(),
    max_weight: float = 10.0, confidence: float = 0.95,
) -> str:
    """The SQL computing every estimator: one row per estimator (estimator, value, standard_error,
    ci_low, ci_high, rows_used), in ESTIMATORS order (DM and DR only with a reward model).

    >>> "when weight > 10.0 then 10.0" in estimator_sql("logged", "target")
    True
    """
    if not max_weight > 0:
        raise PolicyEvaluationError(f"max_weight must be positive (weights are clipped at it), got {max_weight!r}")
    z = _z(confidence)
    c = columns
    ctx, act = f"{_column(c.context)}::varchar", f"{_column(c.action)}::varchar"
    log_sql, target_sql = relation_sql(log), relation_sql(target)
    model = reward_model is not None
    model_ctes = f""",
reward_model as (
    select {ctx} as context_id, {act} as action, {_column(c.predicted_reward)}::double as predicted_reward
    from {relation_sql(reward_model)}
),
direct_values as (
    select target_policy.context_id, sum(target_policy.probability * reward_model.predicted_reward) as direct_value
    from target_policy inner join reward_model using (context_id, action)
    group by target_policy.context_id
)""" if model else ""
    model_columns = "reward_model.predicted_reward, direct_values.direct_value" if model else "null::double as predicted_reward, null::double as direct_value"
    model_joins = ("left join reward_model using (context_id, action)\n    left join direct_values using (context_id)") if model else ""
    mean_rows = [("ips", "ips_term", 1), ("clipped_ips", "clipped_term", 2), ("dm", "dm_term", 4), ("dr", "dr_term", 5)]
    means = "\n    union all\n    ".join(
        f"select {ordinal} as ordinal, '{name}' as estimator, avg({term}) as value, "
        f"stddev_samp({term}) / sqrt(count({term})) as standard_error, count({term}) as rows_used from terms"
        for name, term, ordinal in mean_rows if model or name in ("ips", "clipped_ips"))
    return f"""
with logged as (
    select {ctx} as context_id, {act} as action, {_column(c.reward)}::double as reward, {_column(c.propensity)}::double as propensity
    from {log_sql}
),
classified as (
    select *, {EXCLUSION_SQL} as exclusion from logged
),
target_policy as (
    select {ctx} as context_id, {act} as action, {_column(c.probability)}::double as probability
    from {target_sql}
){model_ctes},
scored as (
    select
        classified.reward,
        case when classified.exclusion is null then target_policy.probability / classified.propensity end as weight,
        {model_columns}
    from classified
    inner join target_policy using (context_id, action)
    {model_joins}
    where classified.exclusion is null or classified.exclusion not in ({", ".join(f"'{e}'" for e in EXCLUDED_FROM_ALL)})
),
terms as (
    select
        reward,
        weight,
        weight * reward as ips_term,
        case when weight > {float(max_weight)!r} then {float(max_weight)!r} else weight end * reward as clipped_term,  -- least() would skip NULLs
        direct_value as dm_term,
        direct_value + weight * (reward - predicted_reward) as dr_term
    from scored
),
self_normalised as (
    select sum(ips_term) / nullif(sum(weight), 0) as value, avg(weight) as mean_weight, count(weight) as rows_used from terms
),
estimates as (
    {means}
    union all
    select 3, 'snips', any_value(self_normalised.value),
        sqrt(sum(power(terms.weight * (terms.reward - self_normalised.value), 2)) / nullif(any_value(self_normalised.rows_used) - 1, 0)
             / any_value(self_normalised.rows_used)) / nullif(any_value(self_normalised.mean_weight), 0),
        any_value(self_normalised.rows_used)
    from terms cross join self_normalised
),
final as (
    select estimator, value, standard_error, value - {z!r} * standard_error as ci_low,
        value + {z!r} * standard_error as ci_high, rows_used
    from estimates
    order by ordinal
)
select * from final"""


def _exclusions(connection, log: str, columns: LogColumns) -> tuple[int, dict[str, int]]:
    """Rows in the log, and rows left out per reason."""
    c = columns
    rows = connection.execute(f"""
        select exclusion, count(*) from (
            select {EXCLUSION_SQL} as exclusion from (
                select {_column(c.context)} as context_id, {_column(c.action)} as action, {_column(c.reward)}::double as reward,
                       {_column(c.propensity)}::double as propensity from {relation_sql(log)}))
        group by all order by exclusion nulls first""").fetchall()
    excluded = {reason: count for reason, count in rows if reason is not None}
    return sum(count for _, count in rows), excluded


def _outside_support(connection, log: str, target: str, logging_policy: str, columns: LogColumns) -> float:
    """Mean over logged contexts of the target's probability on actions the logging policy gives 0 or omits."""
    c = columns
    ctx, act = f"{_column(c.context)}::varchar", f"{_column(c.action)}::varchar"
    probability = _column(c.probability)
    return connection.execute(f"""
        with logged as (select distinct {ctx} as context_id from {relation_sql(log)}),
             target_policy as (select {ctx} as context_id, {act} as action, {probability}::double as probability
                               from {relation_sql(target)}),
             logging as (select {ctx} as context_id, {act} as action, {probability}::double as probability
                         from {relation_sql(logging_policy)})
        select coalesce(sum(target_policy.probability) filter (where coalesce(logging.probability, 0) = 0), 0)
               / nullif(count(distinct logged.context_id), 0)
        from logged inner join target_policy using (context_id)
        left join logging using (context_id, action)""").fetchall()[0][0] or 0.0


def evaluate_policy(
    connection: duckdb.DuckDBPyConnection,
    log: str,
    target: str,
    *,
    reward_model: str | None = None,
    logging_policy: str | None = None,
    columns: LogColumns = LogColumns(),
    max_weight: float = 10.0,
    confidence: float = 0.95,
    tolerance: float = 1e-6,
) -> PolicyEvaluation:
    """Estimate the target policy's mean reward from the log with every estimator (module docstring).

    `log`, `target`, `reward_model`, `logging_policy` name tables or views of `connection`
    (columns named by `columns`; `logging_policy` has the target's columns and, when given,
    measures how much target probability falls where the logging policy never acts).
    Excluded rows raise an ExcludedRowsWarning with their counts.
    """
    check_inputs(connection, log, target, reward_model=reward_model, columns=columns, tolerance=tolerance)
    if logging_policy is not None:
        check_inputs(connection, log, logging_policy, columns=columns, tolerance=tolerance, target_role="logging policy")
    sql = estimator_sql(log, target, reward_model=reward_model, columns=columns, max_weight=max_weight, confidence=confidence)
    rows = connection.execute(sql).fetchall()
    estimates = {row[0]: PolicyEstimate(*row) for row in rows}
    rows_logged, excluded = _exclusions(connection, log, columns)
    if excluded:
        detail = ", ".join(f"{count} {reason}" for reason, count in excluded.items())
        warnings.warn(f"off-policy evaluation of {target!r} on {log!r}: {sum(excluded.values())} of {rows_logged} logged rows "
                      f"left out ({detail}); propensity problems exclude a row from IPS, clipped IPS, SNIPS and DR only",
                      ExcludedRowsWarning, stacklevel=2)
    outside = None
    if logging_policy is not None:
        outside = _outside_support(connection, log, target, logging_policy, columns)
        if outside > 0:
            warnings.warn(f"the target policy {target!r} puts {outside:.3%} of its probability (mean per context) on actions the "
                          f"logging policy {logging_policy!r} never takes: IPS, clipped IPS and SNIPS cannot see rewards there (biased downwards for non-negative rewards)",
                          ExcludedRowsWarning, stacklevel=2)
    return PolicyEvaluation(estimates, rows_logged, excluded, confidence, float(max_weight), outside)
