"""The decline policy in Python (the service) and as a DuckDB macro (batch scores) agree."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from udfs.decline_actions import ACTIONS, DeclineActionPolicy, register_decline_action
from udfs.errors import ModelArtifactError

TYPES = ("insufficient_funds", "do_not_honor", "hard_decline", "authentication_required", "technical")


def random_policy(generator: np.random.Generator) -> dict:
    return {
        "kind": "decline_action", "type_model": "decline_type",
        "thresholds": {"stand_in_approval": float(generator.uniform(0, 0.2)),
                       "step_up_authentication": float(generator.uniform(0, 0.6)),
                       "offer_other_instrument": float(generator.uniform(0, 0.6))},
        "outage_ratio": float(generator.uniform(0.3, 0.9)), "trusted_min_attempts": int(generator.integers(1, 20)),
        "trusted_max_decline_ratio": float(generator.uniform(0, 0.3)),
    }


def random_inputs(generator: np.random.Generator, rows: int) -> list[tuple]:
    """Random rows with NULLs, and values on the policies' boundaries (equal rates, zero counts)."""
    out = []
    for _ in range(rows):
        weights = generator.dirichlet(np.ones(len(TYPES)))
        rate_7d = float(generator.uniform(0, 1))
        rate_1h = float(generator.choice([generator.uniform(0, 1), rate_7d * 0.5, 0.0, 1.0]))
        values = [
            float(generator.uniform(0, 1)), {name: float(weight) for name, weight in zip(TYPES, weights)},
            int(generator.integers(0, 3)), int(generator.integers(0, 40)), float(generator.choice([0.0, 0.05, 0.1, generator.uniform(0, 1)])),
            rate_1h, rate_7d,
        ]
        for position in (0, 2, 3, 4, 5, 6):
            if generator.uniform() < 0.08:
                values[position] = None
        out.append(tuple(values))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_python_rule_equals_sql_macro_on_random_inputs(seed):
    generator = np.random.default_rng(seed)
    policy = random_policy(generator)
    rows = random_inputs(generator, 3_000)
    parsed = DeclineActionPolicy.from_policy("issuer_decline", policy)
    connection = duckdb.connect()
    register_decline_action(connection, "issuer_decline", policy)
    connection.execute(
        "create table inputs (position integer, p double, types struct(insufficient_funds double, do_not_honor double,"
        " hard_decline double, authentication_required double, technical double), others integer, attempts bigint,"
        " ratio double, rate_1h double, rate_7d double)"
    )
    connection.executemany("insert into inputs values (?, ?, ?, ?, ?, ?, ?, ?)", [(index, *row) for index, row in enumerate(rows)])
    sql = [action for (action,) in connection.execute(
        "select decline_action_issuer_decline(p, types, others, attempts, ratio, rate_1h, rate_7d) from inputs order by position"
    ).fetchall()]
    python = [parsed.action(*row) for row in rows]
    assert python == sql
    assert len(set(python)) >= 3, f"the random inputs exercise too few actions: {set(python)}"
    assert set(python) <= set(ACTIONS)


def test_nan_means_missing_in_python(decider):
    policy = decider.policy
    types = {name: 0.2 for name in TYPES}
    assert policy.action(float("nan"), types, 5, 100, 0.0, 0.0, 1.0) == "proceed"


def test_trained_policy_agrees_on_random_inputs(decider):
    generator = np.random.default_rng(11)
    rows = random_inputs(generator, 2_000)
    connection = duckdb.connect()
    register_decline_action(connection, "issuer_decline", decider.decline_artifact.manifest.details["decision_policy"])
    for row in rows[:300]:
        (sql,) = connection.execute(
            "select decline_action_issuer_decline(?, ?::struct(insufficient_funds double, do_not_honor double, hard_decline double,"
            " authentication_required double, technical double), ?, ?, ?, ?, ?)", list(row)
        ).fetchone()
        assert decider.policy.action(*row) == sql


def test_a_policy_that_is_not_a_decline_action_is_refused():
    with pytest.raises(ModelArtifactError, match="not a decline_action policy"):
        DeclineActionPolicy.from_policy("issuer_decline", {"kind": "other"})
    with pytest.raises(ModelArtifactError, match="must be a number"):
        DeclineActionPolicy.from_policy("issuer_decline", {"kind": "decline_action", "thresholds": {"stand_in_approval": "x"},
                                                          "outage_ratio": 0.6, "trusted_min_attempts": 1, "trusted_max_decline_ratio": 0.1})
