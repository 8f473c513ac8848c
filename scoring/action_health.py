"""Action health: a policy's predicted rewards recalibrated from its own recent outcomes, in SQL.

A model retrained every few days cannot know that a gateway started failing this morning; the
decision log can. For each action group g over the policy's last `window` decisions whose reward
was observed before `as_of`:

    r_g = (approved on g + k) / (predicted on g + k),  clipped to [low, high]

`predicted` sums the model's predicted reward of each chosen action (the chosen candidate's
`predicted_reward` in the log: the model's own prediction, before any recalibration), `approved`
the observed approvals (the latest observation of each decision). The group of an action is the
action itself, or with a `separator` the part before it: the gateway of `gw_alpha/3ds`. k pulls a
group with few decisions towards 1, so a group the policy rarely chooses keeps r near 1. A policy
multiplies the predictions of every action of g by r_g before it decides
(`scoring.bandit_decisions.OptimizationBandit`, the closed-loop replay's bandit and IPW routing).

Point-in-time: only decisions made and rewards observed strictly before `as_of` count.
Decisions without a predicted reward for their chosen action cannot be judged and are left out.

>>> import duckdb
>>> from datetime import datetime
>>> from scoring.decision_log import Candidate, Decision, Reward, append_decisions, append_rewards
>>> connection = duckdb.connect()
>>> decisions = [Decision(f"d{i}", "bandit", "v1", f"p{i}", datetime(2025, 3, 1, 12, i),
...                       (Candidate("gw_a/none", 0.5, 0.9), Candidate("gw_b/none", 0.5, 0.8)), "gw_a/none" if i < 4 else "gw_b/none")
...              for i in range(6)]
>>> _ = append_decisions(connection, decisions)
>>> _ = append_rewards(connection, [Reward(f"d{i}", datetime(2025, 3, 1, 12, i, 30), i in (0, 4, 5)) for i in range(6)])
>>> health = ActionHealth(k=1.0, separator="/")
>>> health.factors(connection, "bandit", as_of=datetime(2025, 3, 1, 13))   # gw_a: (1 + 1) / (3.6 + 1); gw_b: (2 + 1) / (1.6 + 1)
{'gw_a': 0.5, 'gw_b': 1.1538461538461537}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

import duckdb
import numpy as np

from scoring.errors import RoutingError
from scoring.sql_identifiers import relation_sql

__all__ = ["ActionHealth", "HEALTH_COLUMNS", "HEALTH_FOLDER", "published_factors_path", "publish_factors", "read_published_factors"]

#: Where `publish_factors` writes a policy's factors for services: <workspace>/action_health/<policy>.json
HEALTH_FOLDER = "action_health"

#: The columns of `ActionHealth.table_sql`: one row per action group.
HEALTH_COLUMNS = ("action_group", "decisions", "approved", "predicted", "factor")


@dataclass(frozen=True)
class ActionHealth:
    """The recalibration's settings (module docstring); `factors` reads them off the decision log."""

    k: float = 50.0
    low: float = 0.5
    high: float = 1.2
    window: int = 1_200
    separator: str | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.k) and self.k > 0):
            raise RoutingError(f"ActionHealth.k (the pseudo-count pulling r towards 1) must be a positive number, got {self.k}")
        if not (0 < self.low <= 1 <= self.high and np.isfinite(self.high)):
            raise RoutingError(f"ActionHealth needs 0 < low <= 1 <= high (the clip of r), got low={self.low}, high={self.high}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise RoutingError(f"ActionHealth.window (how many recent decisions count) must be a positive integer, got {self.window!r}")
        if self.separator is not None and (not isinstance(self.separator, str) or len(self.separator) != 1):
            raise RoutingError(f"ActionHealth.separator must be one character (e.g. '/') or None for whole actions, got {self.separator!r}")

    def group_sql(self, action_sql: str) -> str:
        """The SQL expression of an action's group."""
        if self.separator is None:
            return action_sql
        return f"split_part({action_sql}, {_literal(self.separator)}, 1)"

    def group_of(self, action: str) -> str:
        """An action's group, as `group_sql` computes it.

        >>> ActionHealth(separator="/").group_of("gw_alpha/3ds+retry"), ActionHealth().group_of("3ds+retry")
        ('gw_alpha', '3ds+retry')
        """
        return action if self.separator is None else action.split(self.separator, 1)[0]

    def table_sql(self, policy_name: str, as_of: datetime, *, policy_version: str | None = None,
                  log: str = "decisions.decision_log", rewards: str = "decisions.decision_rewards") -> str:
        """One row per action group (HEALTH_COLUMNS) from the policy's last `window` judged decisions
        before `as_of` (of one `policy_version` when given).

        `log` and `rewards` name tables or views (optionally schema-qualified), each part quoted;
        anything else raises InvalidIdentifierError.
        """
        log_sql, rewards_sql = relation_sql(log, what="decision log"), relation_sql(rewards, what="decision rewards")
        cutoff = f"cast({_literal(as_of.isoformat(sep=' '))} as timestamp)"
        version = f"and log.policy_version = {_literal(policy_version)}" if policy_version is not None else ""
        return f"""with outcomes as (
    select decision_id, arg_max(is_approved, observed_at) as is_approved
    from {rewards_sql} where observed_at < {cutoff} and is_approved is not null group by decision_id
), chosen as (
    select log.decision_id, log.decided_at, log.chosen_action, outcomes.is_approved,
           [c.predicted_reward for c in log.candidates if c.action = log.chosen_action][1] as predicted
    from {log_sql} as log join outcomes on outcomes.decision_id = log.decision_id
    where log.policy_name = {_literal(policy_name)} and log.decided_at < {cutoff} {version}
), judged as (
    select * from chosen where predicted is not null
    order by decided_at desc, decision_id desc
    limit {self.window}
), groups as (
    select {self.group_sql('chosen_action')} as action_group, count(*) as decisions,
           sum(cast(is_approved as integer)) as approved, sum(predicted) as predicted
    from judged group by action_group
)
select action_group, decisions, approved, predicted,
       least(greatest((approved + {self.k!r}) / (predicted + {self.k!r}), {self.low!r}), {self.high!r}) as factor
from groups order by action_group"""

    def factors(self, connection: duckdb.DuckDBPyConnection, policy_name: str, as_of: datetime, *,
                policy_version: str | None = None) -> dict[str, float]:
        """r per action group with judged decisions before `as_of`; a group not listed has r = 1."""
        rows = connection.execute(self.table_sql(policy_name, as_of, policy_version=policy_version)).fetchall()
        return {group: float(factor) for group, _, _, _, factor in rows}

    def scale(self, groups: Sequence[str], approved: Sequence[bool], predicted: Sequence[float]) -> dict[str, float]:
        """The same r per group from in-memory decisions (the window already chosen).

        >>> ActionHealth(k=1.0).scale(["a", "a", "b"], [True, False, True], [0.9, 0.9, 0.5])
        {'a': 0.7142857142857143, 'b': 1.2}
        """
        totals: dict[str, list[float]] = {}
        for group, outcome, prediction in zip(groups, approved, predicted):
            total = totals.setdefault(group, [0.0, 0.0])
            total[0] += float(bool(outcome))
            total[1] += float(prediction)
        return {group: min(max((observed + self.k) / (expected + self.k), self.low), self.high)
                for group, (observed, expected) in sorted(totals.items())}

    def describe(self) -> dict:
        return {"k": self.k, "low": self.low, "high": self.high, "window": self.window, "separator": self.separator}


def published_factors_path(root: Path | str, policy_name: str) -> Path:
    """The file a service reads `policy_name`'s factors from, under a workspace root."""
    return Path(root) / HEALTH_FOLDER / f"{policy_name}.json"


def publish_factors(connection: duckdb.DuckDBPyConnection, root: Path | str, policy_name: str, as_of: datetime, *,
                    health: ActionHealth | None = None) -> list[dict]:
    """Compute a policy's factors from the decision log on `connection` and write them, with their
    counts and settings, to `published_factors_path(root, policy_name)` (whole or not at all:
    written under a temporary name, then renamed). Returns the rows (HEALTH_COLUMNS).

    A decision service cannot read the warehouse's decision log on its request path (one DuckDB
    writer per file); it reads this file instead (`read_published_factors`), e.g. after each
    `payloom load-decisions`."""
    health = health or ActionHealth()
    rows = [dict(zip(HEALTH_COLUMNS, row)) for row in connection.execute(health.table_sql(policy_name, as_of)).fetchall()]
    path = published_factors_path(root, policy_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"policy_name": policy_name, "as_of": as_of.isoformat(), "settings": health.describe(),
                                     "groups": rows}, indent=1) + "\n")
    os.replace(temporary, path)
    return rows


def read_published_factors(path: Path | str) -> dict[str, float]:
    """r per action group from a file `publish_factors` wrote."""
    try:
        content = json.loads(Path(path).read_text())
        factors = {str(group["action_group"]): float(group["factor"]) for group in content["groups"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RoutingError(f"{path} is not an action-health file written by publish_factors ({error}); "
                           "delete it or publish it again with `payloom load-decisions`") from None
    bad = {group: factor for group, factor in factors.items() if not (np.isfinite(factor) and factor > 0)}
    if bad:
        raise RoutingError(f"{path} holds factors that are not positive numbers: {bad}; publish it again with `payloom load-decisions`")
    return factors


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"
