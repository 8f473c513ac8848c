"""The contextual bandit: oracle, alpha-greedy + softmax policy, seeded draws; SQL vs in-process parity."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import xgboost
from bandit_world import CONTEXT_FEATURES

from scoring.bandit_decisions import OptimizationBandit, register_bandit
from scoring.bandit_oracle import ACTION_FEATURES, action_encodings, train_oracle
from scoring.bandit_policy import BanditPolicy, decision_uniform, uniform_sql
from scoring.decision_log import append_decisions
from scoring.errors import ExcludedRowsWarning, RoutingError

POLICY = BanditPolicy(alpha=0.8, temperature=0.05, seed=17)


def sql_decisions(connection, relation: str = "payments") -> pa.Table:
    return connection.sql(f"select * from decide_optimization('{relation}') order by decision_id").to_arrow_table()


@pytest.fixture(scope="module")
def decided(bandit_world_data, oracle):
    connection = duckdb.connect()
    bandit = register_bandit(connection, oracle[0], policy=POLICY)
    payments = bandit_world_data.payments.slice(0, 3000)
    connection.register("payments", payments)
    return connection, bandit, payments, sql_decisions(connection)


def test_sql_and_in_process_decisions_are_identical(decided):
    connection, bandit, payments, sql = decided
    python = bandit.decisions_table(bandit.decide_table(payments)).sort_by("decision_id")
    assert sql.num_rows == payments.num_rows == 3000
    assert sql["chosen_action"].to_pylist() == python["chosen_action"].to_pylist()
    assert sql["propensity"].to_pylist() == python["propensity"].to_pylist()          # to the bit
    assert sql["candidates"].to_pylist() == python["candidates"].to_pylist()
    one = payments.slice(7, 1).to_pylist()[0]
    single = bandit.decide(one["decision_id"], one)                                       # the online call
    row = sql.filter(pa.compute.equal(sql["decision_id"], one["decision_id"])).to_pylist()[0]
    assert (single.chosen_action, single.propensity) == (row["chosen_action"], row["propensity"])


def test_compiled_oracle_scores_equal_the_booster(decided, oracle):
    connection, bandit, payments, sql = decided
    first = sql.slice(0, 200).to_pylist()
    by_id = {row["decision_id"]: row for row in payments.to_pylist()}
    rows, predicted = [], []
    for decision in first:
        for candidate in decision["candidates"]:
            rows.append([by_id[decision["decision_id"]][name] for name in CONTEXT_FEATURES] + action_encodings([candidate["action"]])[0].tolist())
            predicted.append(candidate["predicted_reward"])
    expected = oracle[1].predict(xgboost.DMatrix(np.array(rows, dtype=np.float64)))
    assert np.max(np.abs(np.array(predicted) - expected)) <= 1e-6


def test_policy_probabilities_follow_the_formula(decided):
    _, bandit, payments, sql = decided
    for row in sql.slice(0, 300).to_pylist():
        actions = [c["action"] for c in row["candidates"]]
        probabilities = np.array([c["probability"] for c in row["candidates"]])
        predicted = np.array([c["predicted_reward"] for c in row["candidates"]])
        assert actions == sorted(actions)
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
        best = int(np.argmax(predicted))
        assert probabilities[best] == POLICY.alpha
        others = np.delete(np.arange(len(actions)), best)
        z = np.exp((predicted[others] - predicted[best]) / POLICY.temperature)
        assert probabilities[others] == pytest.approx((1 - POLICY.alpha) * z / z.sum(), rel=1e-12)
        assert row["propensity"] == probabilities[actions.index(row["chosen_action"])]
    shares = np.array([row["propensity"] == POLICY.alpha for row in sql.to_pylist()])
    assert shares.mean() == pytest.approx(POLICY.alpha, abs=0.03)        # the best action is drawn ~alpha of the time


def test_reruns_repeat_and_seeds_differ(decided, oracle):
    connection, bandit, payments, sql = decided
    assert sql_decisions(connection).equals(sql)
    other = duckdb.connect()
    register_bandit(other, oracle[0], policy=BanditPolicy(alpha=0.8, temperature=0.05, seed=18))
    other.register("payments", payments)
    changed = np.mean(np.array(sql_decisions(other)["chosen_action"].to_pylist()) != np.array(sql["chosen_action"].to_pylist()))
    assert 0.05 < changed < 0.6


def test_uniform_is_the_same_in_sql_and_python():
    ids = [f"dec_{k}" for k in range(2000)] + ["", "ü'x"]
    connection = duckdb.connect()
    connection.register("ids", pa.table({"decision_id": ids, "position": range(len(ids))}))
    sql = connection.sql(f"select {uniform_sql('decision_id', 5)} as u from ids order by position").to_arrow_table()["u"].to_pylist()
    assert sql == [decision_uniform(i, 5) for i in ids]
    assert 0.0 <= min(sql) and max(sql) < 1.0 and abs(np.mean(sql) - 0.5) < 0.02


def test_single_eligible_action_has_probability_one(oracle):
    eligibility = pa.table({"card_network": ["visa", "visa"], "is_card_not_present": [True, False], "action": ["3ds", "none"]})
    connection = duckdb.connect()
    bandit = register_bandit(connection, oracle[0], policy=POLICY, eligibility=eligibility)
    payments = pa.table({"decision_id": ["d1", "d2"], "card_network": ["visa", "visa"], "is_card_not_present": [True, False],
                         **{name: [1.0, None] for name in CONTEXT_FEATURES}})
    connection.register("payments", payments)
    rows = sql_decisions(connection).to_pylist()
    assert [(r["chosen_action"], r["propensity"]) for r in rows] == [("3ds", 1.0), ("none", 1.0)]
    assert [(d.chosen_action, d.propensity) for d in bandit.decide_table(payments)] == [("3ds", 1.0), ("none", 1.0)]


def test_decisions_go_into_the_decision_log(decided):
    connection, _, payments, sql = decided
    table = sql.append_column("context_key", sql["decision_id"]).append_column(
        "decided_at", pa.array([datetime(2025, 3, 1)] * sql.num_rows, pa.timestamp("us")))
    result = append_decisions(connection, table)
    assert result.written == sql.num_rows and result.quarantined == {}


def test_oracle_improves_on_the_logging_policy(bandit_world_data, decided):
    _, bandit, payments, sql = decided
    greedy = np.array([max(row["candidates"], key=lambda c: c["predicted_reward"])["action"] for row in sql.to_pylist()])
    order = {d: k for k, d in enumerate(bandit_world_data.payments["decision_id"].to_pylist())}
    index = np.array([order[d] for d in sql["decision_id"].to_pylist()])
    sub = {k: (v[index] if np.ndim(v) else v) for k, v in bandit_world_data.context.items()}
    truth_greedy = np.mean(bandit_world_data.__class__(payments, sub).true_approval(greedy))
    truth_logged = np.mean(sub["p_approve"])
    assert truth_greedy > truth_logged


def test_bad_input_is_a_clear_error(oracle, decided):
    connection, bandit, payments, sql = decided
    with pytest.raises(RoutingError, match="unknown optimization 'turbo'.*the oracle encodes only these actions: none, 3ds"):
        register_bandit(duckdb.connect(), oracle[0], eligibility=pa.table({"card_network": ["visa"], "action": ["turbo"]}))
    decision = bandit.decide(payments["decision_id"][0].as_py(), payments.slice(0, 1).to_pylist()[0])
    with pytest.raises(RoutingError, match=r"action 'gw_alpha' is not eligible for decision dec_.*; eligible: "):
        decision.probability_of("gw_alpha")
    stray = pa.table({"decision_id": ["d9"], "card_network": ["unionpay"], "is_card_not_present": [True], **{n: [1.0] for n in CONTEXT_FEATURES}})
    with pytest.raises(RoutingError, match=r"no eligible action for \(card_network, is_card_not_present\) = \('unionpay', True\)"):
        bandit.decide_table(stray)
    connection.register("stray", stray)
    with pytest.raises(duckdb.Error, match=r"payment d9 has no eligible action for \(card_network, is_card_not_present\) = \(unionpay, true\)"):
        sql_decisions(connection, "stray")
    connection.register("twice", pa.concat_tables([payments.slice(0, 1), payments.slice(0, 1)]))
    with pytest.raises(duckdb.Error, match="appears more than once; decision ids must be unique"):
        sql_decisions(connection, "twice")
    with pytest.raises(RoutingError, match=r"alpha \(the probability of the best action\) must be in \(0, 1\]"):
        BanditPolicy(alpha=0.0)
    with pytest.raises(RoutingError, match="needs columns amount_usd"):
        bandit.decide_table(pa.table({"decision_id": ["x"], "card_network": ["visa"], "is_card_not_present": [True]}))


def test_oracle_weights_and_exclusions():
    rng = np.random.default_rng(0)
    context = rng.normal(size=(400, 2))
    actions = rng.choice(["none", "3ds"], 400)
    propensity = np.full(400, 0.5)
    propensity[:3] = [np.nan, 0.0, 2.0]
    with pytest.warns(ExcludedRowsWarning, match="3 of 400 logged decisions excluded"):
        booster = train_oracle(context, actions, rng.random(400) < 0.7, propensity, num_boost_round=3)
    assert booster.num_features() == 2 + len(ACTION_FEATURES)


def test_a_model_without_action_features_is_not_an_oracle(registry_root):
    from scoring.model_publishing import publish_model

    rows = np.arange(40, dtype=float).reshape(-1, 2)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgboost.DMatrix(rows, label=rows[:, 0] > 20), 2)
    artifact = publish_model(registry_root, "not_an_oracle", booster, [("a", "double"), ("b", "double")])
    with pytest.raises(RoutingError, match="model not_an_oracle is not a bandit oracle: its last features must be uses_3ds"):
        OptimizationBandit(artifact, POLICY)


def test_health_factors_recalibrate_sql_and_in_process_alike(bandit_world_data, oracle):
    """With ActionHealth, each action's prediction is multiplied by its factor before the policy:
    SQL and in-process agree to the bit, the logged predicted_reward stays the oracle's own, and an
    action whose factor is cut loses the decisions it used to win."""
    from scoring.action_health import ActionHealth

    connection = duckdb.connect()
    payments = bandit_world_data.payments.slice(0, 2000)
    connection.register("payments", payments)
    bandit = register_bandit(connection, oracle[0], policy=POLICY, health=ActionHealth())
    before = sql_decisions(connection)                                    # empty factor table: every r = 1
    favourite = max(set(before["chosen_action"].to_pylist()), key=before["chosen_action"].to_pylist().count)
    bandit.apply_health(connection, {favourite: 0.5})
    after = sql_decisions(connection)
    python = bandit.decisions_table(bandit.decide_table(payments)).sort_by("decision_id")
    assert after["chosen_action"].to_pylist() == python["chosen_action"].to_pylist()
    assert after["propensity"].to_pylist() == python["propensity"].to_pylist()
    assert after["candidates"].to_pylist() == python["candidates"].to_pylist()
    assert [[c["predicted_reward"] for c in row] for row in after["candidates"].to_pylist()] == \
           [[c["predicted_reward"] for c in row] for row in before["candidates"].to_pylist()]
    wins_before = before["chosen_action"].to_pylist().count(favourite)
    assert after["chosen_action"].to_pylist().count(favourite) < wins_before / 2
    with pytest.raises(RoutingError, match="positive finite"):
        bandit.apply_health(connection, {favourite: 0.0})
    without = OptimizationBandit(oracle[0], POLICY)
    with pytest.raises(RoutingError, match="health=ActionHealth"):
        without.apply_health(None, {favourite: 0.9})
