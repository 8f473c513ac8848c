"""Check the relations an off-policy evaluation reads, before any estimate is computed.

Three relations (tables or views of one DuckDB connection), joined on context and action:

- the log: one row per logged decision (context id, action, reward, propensity);
- the target policy: one row per (context id, eligible action) with the target's probability,
  0 included, summing to 1 per context;
- optionally a reward model: one row per (context id, action) with the predicted reward.

API misuse raises PolicyEvaluationError with what was expected and what to do: a missing
relation or column, a context id logged twice, target probabilities outside [0, 1] or not
summing to 1, a logged context or action the target policy does not list (an action outside
the eligible set), a target action the reward model has no prediction for (eligible sets that
do not match the model's classes). Bad rows of the log are not errors: EXCLUSION_SQL names why a
row is left out, and the estimators count them.

>>> import duckdb
>>> connection = duckdb.connect()
>>> connection.execute("create table logged as select 'c1' as context_id, 'a' as action, 1 as reward, 0.5 as propensity")
<...>
>>> connection.execute("create table target as select 'c1' as context_id, unnest(['a', 'b']) as action, 0.5 as probability")
<...>
>>> check_inputs(connection, "logged", "target")
>>> check_inputs(connection, "logged", "target", columns=LogColumns(reward="click"))
Traceback (most recent call last):
...
scoring.errors.PolicyEvaluationError: the log 'logged' has no column 'click' (its columns: context_id, action, reward, propensity): name the log's reward column with LogColumns(reward=...)
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import duckdb

from scoring.errors import InvalidIdentifierError, InvalidPolicyInputNameError, PolicyEvaluationError
from scoring.sql_identifiers import check_identifier, column_sql
from scoring.sql_identifiers import relation_sql as _relation_sql

__all__ = ["LogColumns", "relation_sql", "check_inputs", "EXCLUSION_SQL", "EXCLUDED_FROM_ALL"]

#: Why a logged row is left out (NULL: used by every estimator). Over columns reward, propensity,
#: context_id and action of the normalised log.
EXCLUSION_SQL = """case
    when context_id is null or action is null then 'context or action missing'
    when reward is null or isnan(reward) then 'reward missing'
    when propensity is null or isnan(propensity) then 'propensity missing'
    when propensity <= 0 then 'propensity not positive'
    when propensity > 1 then 'propensity above 1'
end"""
#: Exclusions that leave a row out of every estimator; the others only out of the weighted ones.
EXCLUDED_FROM_ALL = ("context or action missing", "reward missing")


@dataclass(frozen=True)
class LogColumns:
    """Column names of the relations: map an external log's names here instead of renaming its columns.

    `context` and `action` name the join columns of all three relations; `probability` is the
    target policy's column, `predicted_reward` the reward model's.
    """

    context: str = "context_id"
    action: str = "action"
    reward: str = "reward"
    propensity: str = "propensity"
    probability: str = "probability"
    predicted_reward: str = "predicted_reward"

    def __post_init__(self) -> None:
        # Each name becomes a quoted SQL identifier: refuse what is not one before any SQL is written.
        for field in fields(self):
            check_identifier(getattr(self, field.name), what=f"LogColumns.{field.name}", error=InvalidPolicyInputNameError)


def _quoted(identifier: str) -> str:
    """A column name of LogColumns (checked when LogColumns was made), quoted through sqlglot."""
    return column_sql(identifier, error=InvalidPolicyInputNameError)


def relation_sql(name: str) -> str:
    """A table or view name (optionally schema-qualified) as quoted SQL, each part quoted through sqlglot;
    InvalidPolicyInputNameError (a PolicyEvaluationError) for anything else.

    >>> relation_sql("decisions.decision_log"), relation_sql("Order")
    ('"decisions"."decision_log"', '"Order"')
    >>> relation_sql("logged; drop table target")
    Traceback (most recent call last):
    ...
    scoring.errors.InvalidPolicyInputNameError: expected the name of a table or view (e.g. 'bandit_log' or 'decisions.decision_log'), got 'logged; drop table target': create a view for a query first (connection.execute('create temp view my_log as select ...'))
    """
    try:
        return _relation_sql(name)
    except InvalidIdentifierError:
        raise InvalidPolicyInputNameError(
            f"expected the name of a table or view (e.g. 'bandit_log' or 'decisions.decision_log'), got {name!r}: "
            "create a view for a query first (connection.execute('create temp view my_log as select ...'))") from None


def _columns_of(connection: duckdb.DuckDBPyConnection, name: str, role: str) -> list[str]:
    try:
        return [column[0] for column in connection.execute(f"select * from {relation_sql(name)} limit 0").description]
    except duckdb.CatalogException as error:
        raise PolicyEvaluationError(f"the {role} {name!r} is not a table or view of this connection: {error}") from error


def _require(connection, name: str, role: str, needed: dict[str, str]) -> None:
    """Every column of `needed` (LogColumns field -> column name) exists in relation `name`."""
    present = _columns_of(connection, name, role)
    for field, column in needed.items():
        if column not in present:
            raise PolicyEvaluationError(
                f"the {role} {name!r} has no column {column!r} (its columns: {', '.join(present)}): "
                f"name the {role}'s {field} column with LogColumns({field}=...)")


def _first(connection, sql: str) -> tuple:
    return connection.execute(sql).fetchall()[0]


def check_inputs(
    connection: duckdb.DuckDBPyConnection,
    log: str,
    target: str,
    *,
    reward_model: str | None = None,
    columns: LogColumns = LogColumns(),
    tolerance: float = 1e-6,
    target_role: str = "target policy",
) -> None:
    """Raise PolicyEvaluationError unless log, target policy and reward model fit together (module docstring).

    `target_role` names the policy relation in messages (e.g. "logging policy" when checking that one).
    """
    c = columns
    keys = {"context": c.context, "action": c.action}
    _require(connection, log, "log", {**keys, "reward": c.reward, "propensity": c.propensity})
    _require(connection, target, target_role, {**keys, "probability": c.probability})
    if reward_model is not None:
        _require(connection, reward_model, "reward model", {**keys, "predicted_reward": c.predicted_reward})
    ctx, act = _quoted(c.context), _quoted(c.action)
    log_sql, target_sql = relation_sql(log), relation_sql(target)
    count, example = _first(connection, f"""select count(*), any_value({ctx}) from
        (select {ctx} from {log_sql} where {ctx} is not null group by {ctx} having count(*) > 1)""")
    if count:
        raise PolicyEvaluationError(f"{count} context ids occur more than once in the log {log!r} (e.g. {example!r}): "
                                    "each logged row must have its own context id; add the position or a row number to it")
    probability = _quoted(c.probability)
    count, example = _first(connection, f"""select count(*), any_value({ctx}) from {target_sql}
        where {probability} is null or isnan({probability}) or {probability} < 0 or {probability} > 1""")
    if count:
        raise PolicyEvaluationError(f"{count} {target_role} probabilities are NULL or outside [0, 1] (e.g. context {example!r}): "
                                    "give every eligible action a probability in [0, 1]")
    count, example = _first(connection, f"""select count(*), any_value({ctx}) from
        (select {ctx} from {target_sql} group by {ctx}, {act} having count(*) > 1)""")
    if count:
        raise PolicyEvaluationError(f"{count} (context, action) pairs occur more than once in the {target_role} {target!r} "
                                    f"(e.g. context {example!r}): give one probability per eligible action")
    count, example, total = _first(connection, f"""select count(*), any_value({ctx}), any_value(total) from
        (select {ctx}, sum({probability}) as total from {target_sql} group by {ctx} having abs(sum({probability}) - 1) > {float(tolerance)!r})""")
    if count:
        raise PolicyEvaluationError(f"the {target_role}'s probabilities of {count} contexts do not sum to 1 "
                                    f"(e.g. context {example!r} sums to {total:.6g}): normalise them per context")
    _check_support(connection, log_sql, target_sql, ctx, act, log, target, target_role)
    if reward_model is not None:
        _check_reward_model(connection, log_sql, target_sql, relation_sql(reward_model), ctx, act, _quoted(c.predicted_reward), reward_model)


def _check_support(connection, log_sql: str, target_sql: str, ctx: str, act: str, log: str, target: str, role: str) -> None:
    """Every logged context is in the policy relation, and every logged action is one of its eligible actions there."""
    no_context, context_example, outside, outside_example = _first(connection, f"""
        with logged as (select {ctx}::varchar as context_id, {act}::varchar as action from {log_sql}
                        where {ctx} is not null and {act} is not null),
             eligible as (select {ctx}::varchar as context_id, list({act}::varchar) as actions from {target_sql} group by 1)
        select count(*) filter (where eligible.actions is null),
               any_value(logged.context_id) filter (where eligible.actions is null),
               count(*) filter (where not list_contains(eligible.actions, logged.action)),
               any_value(logged.context_id || ': ' || logged.action || ' not in ' || array_to_string(list_sort(eligible.actions), ', '))
                   filter (where not list_contains(eligible.actions, logged.action))
        from logged left join eligible on logged.context_id = eligible.context_id""")
    if no_context:
        raise PolicyEvaluationError(f"{no_context} logged contexts of {log!r} have no {role} probabilities in {target!r} "
                                    f"(e.g. {context_example!r}): give the {role}'s probabilities for every logged context")
    if outside:
        raise PolicyEvaluationError(f"{outside} logged actions are outside the {role}'s eligible set ({outside_example}): "
                                    f"list every eligible action of each context in the {role}, with probability 0 "
                                    "for actions it never takes")


def _check_reward_model(connection, log_sql, target_sql, model_sql, ctx, act, predicted, reward_model: str) -> None:
    """The reward model predicts every eligible action of every logged context, once, with a number."""
    count, example = _first(connection, f"""select count(*), any_value({ctx}) from
        (select {ctx} from {model_sql} group by {ctx}, {act} having count(*) > 1)""")
    if count:
        raise PolicyEvaluationError(f"{count} (context, action) pairs occur more than once in the reward model {reward_model!r} "
                                    f"(e.g. context {example!r}): give one prediction per eligible action")
    missing, example, bad = _first(connection, f"""
        with needed as (select {ctx}::varchar as context_id, {act}::varchar as action from {target_sql}
                        where {ctx}::varchar in (select {ctx}::varchar from {log_sql})),
             model as (select {ctx}::varchar as context_id, {act}::varchar as action, {predicted}::double as predicted from {model_sql})
        select count(*) filter (where model.context_id is null),
               any_value(needed.context_id || ': ' || needed.action) filter (where model.context_id is null),
               count(*) filter (where model.context_id is not null and (model.predicted is null or isnan(model.predicted)))
        from needed left join model on needed.context_id = model.context_id and needed.action = model.action""")
    if missing:
        raise PolicyEvaluationError(f"the reward model {reward_model!r} has no prediction for {missing} (context, action) pairs "
                                    f"of the target policy (e.g. {example}): the eligible sets do not match the model's classes; "
                                    "predict every eligible action of every logged context")
    if bad:
        raise PolicyEvaluationError(f"the reward model {reward_model!r} predicts NULL or NaN for {bad} eligible (context, action) "
                                    "pairs: give a number for each")
