"""The decision log: round trip, idempotent appends, quarantined bad rows, point-in-time rewards."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from scoring.decision_history import create_bandit_views, read_decisions
from scoring.decision_log import Candidate, Decision, Reward, append_decisions, append_rewards
from scoring.errors import DecisionLogError, ExcludedRowsWarning
from scoring.off_policy import evaluate_policy

NOON = datetime(2025, 3, 1, 12)
ROUTES = (Candidate("gw_alpha", 0.2, 0.81), Candidate("gw_beta", 0.5, 0.86), Candidate("gw_gamma", 0.3, 0.79))


def _decision(number: int, chosen: str = "gw_beta", **changes) -> Decision:
    fields = dict(decision_id=f"d{number}", policy_name="routing", policy_version="v2", context_key=f"att_{number}",
                  decided_at=NOON + timedelta(minutes=number), candidates=ROUTES, chosen_action=chosen,
                  payment_id=f"pay_{number}", card_id="card_1", customer_id="cus_1", merchant_id="mer_1")
    return Decision(**{**fields, **changes})


def test_decisions_read_back_as_written() -> None:
    connection = duckdb.connect()
    result = append_decisions(connection, [_decision(1), _decision(2, "gw_gamma")])
    assert (result.written, result.already_logged, result.quarantined) == (2, 0, {})
    rows = read_decisions(connection, as_of=NOON + timedelta(hours=1)).to_pylist()
    assert [row["decision_id"] for row in rows] == ["d1", "d2"]
    first = rows[0]
    assert first["candidates"] == [{"action": c.action, "probability": c.probability, "predicted_reward": c.predicted_reward} for c in ROUTES]
    assert (first["chosen_action"], first["propensity"], first["policy_version"]) == ("gw_beta", 0.5, "v2")
    assert (first["payment_id"], first["card_id"], first["decided_at"]) == ("pay_1", "card_1", NOON + timedelta(minutes=1))
    assert rows[1]["propensity"] == 0.3
    assert not first["has_reward"] and first["is_approved"] is None


def test_appending_again_writes_nothing_twice() -> None:
    connection = duckdb.connect()
    batch = [_decision(1), _decision(2), _decision(2)]
    assert append_decisions(connection, batch).duplicates_in_batch == 1
    again = append_decisions(connection, [*batch, _decision(3)])
    assert (again.received, again.written, again.already_logged, again.duplicates_in_batch) == (4, 1, 3, 0)
    assert connection.execute("select count(*) from decisions.decision_log").fetchall() == [(3,)]
    rewards = [Reward("d1", NOON + timedelta(minutes=2), True, 1250, "EUR")]
    assert append_rewards(connection, rewards).written == 1
    assert append_rewards(connection, rewards).already_logged == 1
    assert connection.execute("select count(*) from decisions.decision_rewards").fetchall() == [(1,)]


def test_bad_rows_are_quarantined_with_a_reason_counted_and_warned_about() -> None:
    connection = duckdb.connect()
    uneven = (Candidate("gw_alpha", 0.2), Candidate("gw_beta", 0.5))
    batch = [
        _decision(1),
        _decision(2, propensity=0.0),
        _decision(3, propensity=1.5),
        _decision(4, chosen="gw_delta"),
        _decision(5, candidates=uneven),
        _decision(6, propensity=0.3),
        _decision(7, candidates=(Candidate("gw_alpha", 0.5), Candidate("gw_alpha", 0.5))),
        _decision(8, candidates=()),
    ]
    with pytest.warns(ExcludedRowsWarning, match="7 of 8 rows quarantined in decisions.decision_log_quarantine"):
        result = append_decisions(connection, batch)
    assert result.written == 1
    assert result.quarantined == {
        "candidate probabilities do not sum to 1": 1, "chosen action not among candidates": 1, "duplicate candidate action": 1,
        "no candidate actions": 1, "propensity differs from the chosen candidate probability": 1, "propensity outside (0, 1]": 2,
    }
    assert connection.execute("select decision_id, reason from decisions.decision_log_quarantine where decision_id = 'd4'").fetchall() == [
        ("d4", "chosen action not among candidates")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExcludedRowsWarning)
        append_decisions(connection, batch)
    assert connection.execute("select count(*) from decisions.decision_log_quarantine").fetchall() == [(7,)]


def test_bad_rewards_are_quarantined() -> None:
    connection = duckdb.connect()
    with pytest.warns(ExcludedRowsWarning, match="2 of 3 rows quarantined in decisions.decision_rewards_quarantine"):
        result = append_rewards(connection, [Reward("d1", NOON, True, 100, "USD"), Reward("d2", NOON, None),
                                             Reward("d3", NOON, True, -5, "USD")])
    assert result.quarantined == {"no outcome (is_approved and revenue_minor NULL)": 1, "revenue_minor negative": 1}


def test_api_misuse_is_an_error_that_says_what_is_expected() -> None:
    connection = duckdb.connect()
    frame = pd.DataFrame({"decision_id": ["d1"], "policy_name": ["routing"]})
    with pytest.raises(DecisionLogError, match="decisions lack required column.* policy_version, context_key, decided_at, candidates"):
        append_decisions(connection, frame)
    table = pa.Table.from_pylist([_decision(1).row()]).set_column(5, "candidates", pa.array([["gw_alpha"]]))
    with pytest.raises(DecisionLogError, match=r"decisions column 'candidates' must be a list of structs \(action, probability"):
        append_decisions(connection, table)
    with pytest.raises(DecisionLogError, match="decisions must be a pyarrow Table, a pandas DataFrame or a list of Decision objects"):
        append_decisions(connection, "d1")
    with pytest.raises(DecisionLogError, match="as_of must be a datetime"):
        read_decisions(connection, as_of="2025-03-01")


def test_decisions_from_a_dataframe_without_predicted_rewards() -> None:
    connection = duckdb.connect()
    frame = pd.DataFrame([{**_decision(1).row(), "candidates": [{"action": "a", "probability": 1.0}], "chosen_action": "a",
                           "propensity": 1.0, "decided_at": pd.Timestamp("2025-03-01 13:00", tz="Europe/Paris")}])
    assert append_decisions(connection, frame).written == 1
    row = read_decisions(connection, as_of=NOON).to_pylist()[0]
    assert row["decided_at"] == NOON and row["candidates"] == [{"action": "a", "probability": 1.0, "predicted_reward": None}]


def test_rewards_are_joined_point_in_time() -> None:
    connection = duckdb.connect()
    append_decisions(connection, [_decision(1), _decision(2)])
    decided = NOON + timedelta(minutes=1)
    append_rewards(connection, [
        Reward("d1", decided - timedelta(seconds=1), False),                 # before the decision: never a reward of it
        Reward("d1", decided + timedelta(seconds=2), True, 1250, "EUR"),     # the authorization
        Reward("d1", decided + timedelta(days=30), False, 0, "EUR"),         # a chargeback a month later
        Reward("d2", decided + timedelta(days=2), True, 990, "EUR"),
    ])

    def seen(as_of):
        return {row["decision_id"]: (row["is_approved"], row["revenue_minor"], row["reward_observed_at"])
                for row in read_decisions(connection, as_of=as_of).to_pylist()}

    assert seen(decided) == {"d1": (None, None, None)}                                 # d2 not decided yet
    assert seen(decided + timedelta(seconds=1)) == {"d1": (None, None, None)}                # the authorization comes at +2 s
    assert seen(decided + timedelta(minutes=1)) == {"d1": (True, 1250, decided + timedelta(seconds=2)), "d2": (None, None, None)}
    assert seen(decided + timedelta(days=3))["d2"] == (True, 990, decided + timedelta(days=2))
    assert seen(decided + timedelta(days=30))["d1"] == (False, 0, decided + timedelta(days=30))
    aware = (decided + timedelta(days=3)).replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=-5)))
    assert seen(aware) == seen(decided + timedelta(days=3))
    assert [row["decision_id"] for row in read_decisions(connection, as_of=decided + timedelta(days=3), policy_version="v1").to_pylist()] == []


def test_the_decision_log_feeds_off_policy_evaluation() -> None:
    connection = duckdb.connect()
    append_decisions(connection, [_decision(k, chosen) for k, chosen in enumerate(["gw_beta", "gw_alpha", "gw_gamma", "gw_beta"], start=1)])
    append_rewards(connection, [Reward(f"d{k}", NOON + timedelta(hours=k), approved) for k, approved in [(1, True), (2, False), (3, True)]])
    views = create_bandit_views(connection, as_of=NOON + timedelta(hours=2, minutes=30))   # d3's reward is not known yet
    assert connection.execute(f"select context_id, action, reward, propensity from {views.log} order by 1").fetchall() == [
        ("d1", "gw_beta", 1.0, 0.5), ("d2", "gw_alpha", 0.0, 0.2)]
    connection.execute(f"create table same_as_logging as select * from {views.logging_policy}")
    evaluation = evaluate_policy(connection, views.log, "same_as_logging", reward_model=views.reward_model,
                                 logging_policy=views.logging_policy)
    assert evaluation.estimates["ips"].value == pytest.approx(0.5)          # target = logging: weights 1, the mean reward
    assert evaluation.estimates["dm"].value == pytest.approx(0.2 * 0.81 + 0.5 * 0.86 + 0.3 * 0.79)
    assert evaluation.target_mass_outside_logging_support == 0.0
    with pytest.raises(DecisionLogError, match="reward must be one of is_approved, revenue_minor"):
        create_bandit_views(connection, as_of=NOON, reward="clicks")
