"""Contextual-bandit decisions (Adyen's): explode, score with the oracle UDF, apply the policy, draw.

    select * from decide_optimization('payments')

`register_bandit` puts on a connection: the oracle's UDF `score_<oracle>`, the eligibility table
`<name>_eligibility` (key columns + `action`), the policy macros `<name>_probabilities` /
`<name>_draw` (`scoring.bandit_policy`) and the table macro `<name>(relation)`. The relation (a
table or view name) needs `decision_id` (unique), the eligibility key columns (by default
`card_network`, `is_card_not_present`) and the oracle's context features. Stages:

1. explode: each payment x its eligible actions (inner join on the key columns; a payment with no
   eligible action is an error), with the action's encodings;
2. score: `score_<oracle>(<context features>, <action encodings>)` = predicted P(approve);
3. policy + draw: per decision, actions in name order, `<name>_probabilities`, the seeded draw.

Output, one row per payment, ready for `scoring.decision_log.append_decisions` (add
context_key and decided_at): decision_id, policy_name, policy_version (the oracle's version),
chosen_action, propensity, candidates (LIST of STRUCT(action, probability, predicted_reward)).

With `health=ActionHealth(...)` (`scoring.action_health`) the oracle's predictions are multiplied
by their action group's factor r before the policy (stage 3) picks; the factors live in the table
`<name>_health` (action_group, factor; a group not in it has r = 1), filled by `refresh_health`
from the decision log or by `apply_health`. The logged `predicted_reward` stays the oracle's own,
so the next refresh judges the model, not the recalibrated policy.

`OptimizationBandit.decide` makes the same decision in-process for one payment (the online
service), `decide_table` for many: the same compiled library, the same order of arithmetic, the
same draw, so the same chosen action and propensity as SQL for the same decision id.

>>> rules = default_eligibility().to_pylist()
>>> [rule["action"] for rule in rules if rule["card_network"] == "amex" and not rule["is_card_not_present"]]
['none', 'iso_format', 'retry']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from payloom_sim.constants import NETWORKS, OPTIMIZATION_SETS
from payloom_sim.policy import LOGGED_OPTIMIZATION_SETS, optimization_probabilities
from scoring.action_health import ActionHealth
from scoring.bandit_oracle import ACTION_FEATURES, action_encoding_sql, action_encodings, check_actions
from scoring.bandit_policy import BanditPolicy, policy_macros_sql, uniform_sql
from scoring.decision_log import CANDIDATE_TYPE, Candidate
from scoring.errors import RoutingError
from scoring.sql_identifiers import check_identifier, string_literal
from udfs.identifiers import quote_identifier
from udfs.duckdb_functions import register_artifact
from udfs.model_artifact import ModelArtifact

__all__ = ["OptimizationBandit", "BanditDecision", "default_eligibility", "register_bandit", "DEFAULT_KEYS", "OPTIMIZATION_POLICY"]

DEFAULT_KEYS = ("card_network", "is_card_not_present")
#: The policy name the bandit logs its decisions under (and its action health is published for).
OPTIMIZATION_POLICY = "optimization_bandit"


def default_eligibility() -> pa.Table:
    """The optimisation sets eligible per (card_network, is_card_not_present), as the logging policy
    (`payloom_sim.policy`) allows them: no network tokens on amex, no ISO formatting on discover, no
    3DS on card-present payments."""
    rows = {"card_network": [], "is_card_not_present": [], "action": []}
    for network_code, network in enumerate(NETWORKS):
        for card_not_present in (False, True):
            allowed = optimization_probabilities(network=np.array([network_code]), card_not_present=np.array([card_not_present]))[0]
            for action in LOGGED_OPTIMIZATION_SETS:
                if allowed[OPTIMIZATION_SETS.index(action)] > 0:
                    rows["card_network"].append(network)
                    rows["is_card_not_present"].append(card_not_present)
                    rows["action"].append(action)
    return pa.table(rows)


@dataclass(frozen=True)
class BanditDecision:
    """One decision: the chosen action, its propensity, and every candidate (sorted by action)."""

    decision_id: str
    chosen_action: str
    propensity: float
    candidates: tuple[Candidate, ...]

    def probability_of(self, action: str) -> float:
        """The policy's probability of `action`; an action outside the eligible set is an error."""
        for candidate in self.candidates:
            if candidate.action == action:
                return candidate.probability
        raise RoutingError(f"action {action!r} is not eligible for decision {self.decision_id}; eligible: "
                           f"{', '.join(c.action for c in self.candidates)}")


def _sql_string(value: str) -> str:
    return string_literal(value)


def _quoted(name: str) -> str:
    return quote_identifier(name, "duckdb")


class OptimizationBandit:
    """The oracle, the eligibility rules and the policy, for SQL (`sql`) and in-process decisions."""

    def __init__(self, artifact: ModelArtifact, policy: BanditPolicy, *, eligibility: pa.Table | None = None,
                 name: str = "decide_optimization", policy_name: str = OPTIMIZATION_POLICY, health: ActionHealth | None = None):
        check_identifier(name, what="bandit (table macro)")
        features = artifact.manifest.feature_names
        if tuple(features[-len(ACTION_FEATURES):]) != ACTION_FEATURES:
            raise RoutingError(f"model {artifact.manifest.name} is not a bandit oracle: its last features must be "
                               f"{', '.join(ACTION_FEATURES)}, got {', '.join(features[-len(ACTION_FEATURES):])}; publish it with publish_oracle")
        self.artifact, self.policy, self.name, self.policy_name = artifact, policy, name, policy_name
        self.context_features = tuple(features[: -len(ACTION_FEATURES)])
        table = eligibility if eligibility is not None else default_eligibility()
        if "action" not in table.column_names or table.num_columns < 2:
            raise RoutingError(f"the eligibility table needs key columns and an 'action' column, got {', '.join(table.column_names)}")
        self.key_columns = tuple(check_identifier(column, what="eligibility key column") for column in table.column_names if column != "action")
        check_actions(table["action"].to_pylist())
        self.eligibility = table.select([*self.key_columns, "action"])
        rules: dict[tuple, list[str]] = {}
        for row in self.eligibility.to_pylist():
            rules.setdefault(tuple(row[key] for key in self.key_columns), []).append(row["action"])
        self._rules = {key: tuple(sorted(set(actions))) for key, actions in rules.items()}
        self._encoded: dict[tuple[str, ...], np.ndarray] = {}
        self.health = health
        #: r per action group (`scoring.action_health`); empty: every r = 1
        self.health_factors: dict[str, float] = {}

    @property
    def policy_version(self) -> str:
        return self.artifact.manifest.version

    # SQL ------------------------------------------------------------------------------------------
    def explode_sql(self, payments: str) -> str:
        quoted_keys = [_quoted(key) for key in self.key_columns]
        join = " and ".join(f"payments.{key} = eligible.{key}" for key in quoted_keys)
        keys = " || ', ' || ".join(f"coalesce(cast(payments.{key} as varchar), 'NULL')" for key in quoted_keys)
        context = ", ".join(f"payments.{_quoted(feature)}" for feature in self.context_features)
        encodings = ", ".join(f"{sql} as {name}" for sql, name in zip(action_encoding_sql("eligible.action"), ACTION_FEATURES))
        no_action = _sql_string(f"{self.name}: payment ")
        for_keys = _sql_string(f" has no eligible action for ({', '.join(self.key_columns)}) = (")
        add_row = _sql_string(f"); add a row to {self.name}_eligibility")
        return f"""select payments.decision_id,
            case when eligible.action is null then error({no_action} || payments.decision_id || {for_keys}
                 || {keys} || {add_row}) else eligible.action end as action,
            {context}, {encodings}
        from {payments} as payments left join {_quoted(self.name + "_eligibility")} as eligible on {join}"""

    def score_sql(self, exploded: str) -> str:
        arguments = ", ".join(f"cast({_quoted(feature)} as double)" for feature in (*self.context_features, *ACTION_FEATURES))
        scored = f"select decision_id, action, {self.artifact.manifest.function_name}({arguments}) as predicted from {exploded}"
        if self.health is None:
            return scored
        return (f"select scored.*, scored.predicted * coalesce(health.factor, 1.0) as adjusted from ({scored}) as scored "
                f"left join {_quoted(self.name + '_health')} as health on health.action_group = {self.health.group_sql('scored.action')}")

    def decide_sql(self, scored: str) -> str:
        # With health the policy reads the recalibrated predictions; the log keeps the oracle's own.
        policy_input = "adjusted" if self.health is not None else "predicted"
        adjusted = ", list(adjusted order by action) as adjusted" if self.health is not None else ""
        return f"""select decision_id, {_sql_string(self.policy_name)} as policy_name, {_sql_string(self.policy_version)} as policy_version,
            actions[chosen] as chosen_action, probabilities[chosen] as propensity,
            list_transform(actions, lambda a, i: struct_pack(action := a, probability := probabilities[i], predicted_reward := predicted[i]))
                as candidates
        from (
            select *, case when len(list_distinct(actions)) < len(actions)
                           then error({_sql_string(self.name + ': decision_id ')} || decision_id || ' appears more than once; decision ids must be unique')
                           else {_quoted(self.name + '_draw')}(probabilities, {uniform_sql('decision_id', self.policy.seed)}) end as chosen
            from (select *, {_quoted(self.name + '_probabilities')}({policy_input}) as probabilities from (
                select decision_id, list(action order by action) as actions, list(predicted order by action) as predicted{adjusted}
                from {scored} group by decision_id)))"""

    def sql(self, payments: str) -> str:
        """The whole query over a relation (name or parenthesised subquery)."""
        return (f"with bandit_payments as (from {payments}), bandit_exploded as ({self.explode_sql('bandit_payments')}), "
                f"bandit_scored as ({self.score_sql('bandit_exploded')}) {self.decide_sql('bandit_scored')}")

    # Health ---------------------------------------------------------------------------------------
    def apply_health(self, connection: duckdb.DuckDBPyConnection | None, factors: Mapping[str, float]) -> None:
        """Use these factors r per action group, in-process and (given the connection the bandit is
        registered on) in SQL's `<name>_health`."""
        if self.health is None:
            raise RoutingError(f"{self.name} was made without health settings; pass health=ActionHealth(...) to use factors")
        bad = {group: factor for group, factor in factors.items() if not (isinstance(factor, (int, float)) and np.isfinite(factor) and factor > 0)}
        if bad:
            raise RoutingError(f"{self.name}: health factors must be positive finite numbers, got {bad}")
        self.health_factors = {str(group): float(factor) for group, factor in factors.items()}
        if connection is not None:
            connection.execute(f"delete from {_quoted(self.name + '_health')}")
            if self.health_factors:
                connection.executemany(f"insert into {_quoted(self.name + '_health')} values (?, ?)", list(self.health_factors.items()))

    def refresh_health(self, connection: duckdb.DuckDBPyConnection | None, as_of, *,
                       log_connection: duckdb.DuckDBPyConnection | None = None) -> dict[str, float]:
        """Recompute the factors from this policy's decision log as of `as_of` (`ActionHealth.factors`,
        read on `log_connection`, by default `connection`) and apply them; returns them."""
        if self.health is None:
            raise RoutingError(f"{self.name} was made without health settings; pass health=ActionHealth(...) to refresh them")
        source = log_connection if log_connection is not None else connection
        if source is None:
            raise RoutingError("refresh_health needs a connection that holds the decision log")
        factors = self.health.factors(source, self.policy_name, as_of)
        self.apply_health(connection, factors)
        return factors

    def _adjusted(self, actions: tuple[str, ...], scores: list[float]) -> list[float]:
        if not self.health_factors:
            return scores
        assert self.health is not None
        return [score * self.health_factors.get(self.health.group_of(action), 1.0) for action, score in zip(actions, scores)]

    # In-process -----------------------------------------------------------------------------------
    def eligible_actions(self, key: Sequence[Any]) -> tuple[str, ...]:
        actions = self._rules.get(tuple(key))
        if actions is None:
            raise RoutingError(f"{self.name}: no eligible action for ({', '.join(self.key_columns)}) = {tuple(key)}; "
                               f"add it to the eligibility table")
        return actions

    def _encodings(self, actions: tuple[str, ...]) -> np.ndarray:
        """ACTION_FEATURES of an eligible set, computed once per set (a few sets serve every payment)."""
        encoded = self._encoded.get(actions)
        if encoded is None:
            encoded = self._encoded[actions] = action_encodings(list(actions))
        return encoded

    def has_rules(self, key: Sequence[Any]) -> bool:
        """Whether the eligibility table has actions for `key` (values of `key_columns`)."""
        return tuple(key) in self._rules

    def rule_keys(self) -> list[tuple]:
        """Every key the eligibility table has actions for."""
        return list(self._rules)

    def decide(self, decision_id: str, context: Mapping[str, Any]) -> BanditDecision:
        """One payment's decision; `context` holds the key columns and the context features (None = missing)."""
        return self.decide_table(pa.table({"decision_id": [decision_id], **{name: [context.get(name)] for name in (*self.key_columns, *self.context_features)}}))[0]

    def decide_table(self, payments: pa.Table) -> list[BanditDecision]:
        """Decisions for every row of `payments` (the columns SQL reads), in row order."""
        missing = [name for name in ("decision_id", *self.key_columns, *self.context_features) if name not in payments.column_names]
        if missing:
            raise RoutingError(f"{self.name} needs columns {', '.join(missing)}; expected decision_id, {', '.join(self.key_columns)} "
                               f"and the oracle's context features {', '.join(self.context_features)}")
        keys = list(zip(*(payments[key].to_pylist() for key in self.key_columns)))
        context = np.column_stack([np.asarray(payments[name].to_numpy(zero_copy_only=False), dtype=np.float64)
                                   for name in self.context_features]) if self.context_features else np.zeros((payments.num_rows, 0))
        return self.decide_matrix(payments["decision_id"].to_pylist(), keys, context)

    def decide_matrix(self, decision_ids: Sequence[str], keys: Sequence[tuple], context: np.ndarray) -> list[BanditDecision]:
        """Decisions from a context matrix (rows: decisions; columns: `context_features`, NaN =
        missing) and each decision's eligibility key (values of `key_columns`), in order."""
        context = np.asarray(context, dtype=np.float64)
        if context.ndim != 2 or context.shape != (len(decision_ids), len(self.context_features)) or len(keys) != len(decision_ids):
            raise RoutingError(f"{self.name}: expected one key and one context row of {len(self.context_features)} features "
                               f"per decision ({len(decision_ids)}), got {len(keys)} keys and a {context.shape} matrix")
        actions = [self.eligible_actions(key) for key in keys]
        counts = [len(group) for group in actions]
        matrix = np.empty((sum(counts), context.shape[1] + len(ACTION_FEATURES)), dtype=np.float64)
        start = 0
        for index, group in enumerate(actions):
            matrix[start:start + counts[index], :context.shape[1]] = context[index]
            matrix[start:start + counts[index], context.shape[1]:] = self._encodings(group)
            start += counts[index]
        predicted = self.artifact.forest.predict_matrix(matrix)[:, 0].astype(np.float64)
        decisions, start = [], 0
        for decision_id, group in zip(decision_ids, actions):
            scores = predicted[start:start + len(group)].tolist()
            start += len(group)
            probabilities = self.policy.probabilities(self._adjusted(group, scores))
            chosen = self.policy.draw(probabilities, self.policy.uniform(decision_id))
            candidates = tuple(Candidate(a, p, s) for a, p, s in zip(group, probabilities, scores))
            decisions.append(BanditDecision(decision_id, group[chosen], probabilities[chosen], candidates))
        return decisions

    def decisions_table(self, decisions: Sequence[BanditDecision]) -> pa.Table:
        """In-process decisions in the SQL output's columns (for the decision log)."""
        return pa.table({
            "decision_id": [d.decision_id for d in decisions], "policy_name": [self.policy_name] * len(decisions),
            "policy_version": [self.policy_version] * len(decisions), "chosen_action": [d.chosen_action for d in decisions],
            "propensity": pa.array([d.propensity for d in decisions], pa.float64()),
            "candidates": pa.array([[{"action": c.action, "probability": c.probability, "predicted_reward": c.predicted_reward}
                                     for c in d.candidates] for d in decisions], pa.list_(CANDIDATE_TYPE)),
        })


def register_bandit(connection: duckdb.DuckDBPyConnection, artifact: ModelArtifact, *, policy: BanditPolicy | None = None,
                    eligibility: pa.Table | None = None, name: str = "decide_optimization",
                    policy_name: str = OPTIMIZATION_POLICY, health: ActionHealth | None = None) -> OptimizationBandit:
    """Register the oracle UDF, eligibility table, policy macros and the table macro `<name>(relation)`;
    with `health`, also the (empty) factor table `<name>_health` (see `OptimizationBandit.refresh_health`).

    `name` and the eligibility table's key columns are plain SQL identifiers (reserved words and
    mixed case are quoted); anything else raises InvalidIdentifierError before anything is registered."""
    bandit = OptimizationBandit(artifact, policy or BanditPolicy(), eligibility=eligibility, name=name, policy_name=policy_name,
                                health=health)
    if health is not None:
        connection.execute(f"create or replace temp table {_quoted(name + '_health')} (action_group varchar primary key, factor double not null)")
    register_artifact(connection, artifact)
    connection.register(f"{name}_eligibility_arrow", bandit.eligibility)
    connection.execute(f"create or replace temp table {_quoted(name + '_eligibility')} as select * from {_quoted(name + '_eligibility_arrow')}")
    connection.unregister(f"{name}_eligibility_arrow")
    connection.execute(policy_macros_sql(name, bandit.policy))
    connection.execute(f"create or replace temp macro {_quoted(name)}(relation) as table {bandit.sql('query_table(relation)')}")
    return bandit
