"""The optimisation bandit in the online decision: the oracle `payloom train` publishes, the same
choice as the SQL table macro `decide_optimization` for the same decision id and context, and
every decision logged through the spool into the decision log."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from scoring.action_health import publish_factors, published_factors_path, read_published_factors
from scoring.bandit_decisions import register_bandit
from scoring.decision_log import Candidate, Decision, Reward, append_decisions, append_rewards
from scoring.errors import RoutingError
from scoring.decision_spool import SPOOL_FOLDER, DecisionSpool, load_spooled_decisions
from scoring.decline_decision import DeclineDecider
from scoring.optimization_oracle_job import OPTIMIZATION_ORACLE
from scoring.payment_request import DecisionInputError
from scoring.workspace import Workspace
from udfs.model_registry import ModelRegistry


def test_training_publishes_an_oracle_on_the_decline_features(served, decider):
    manifest = ModelRegistry(served.workspace.model_registry).load(OPTIMIZATION_ORACLE).manifest
    assert decider.bandit is not None and decider.bandit.policy_version == manifest.version
    assert set(decider.bandit.context_features) < set(decider.feature_names)
    assert not {"uses_3ds", "uses_retry"} & set(decider.bandit.context_features)
    assert manifest.feature_names[-4:] == ["uses_3ds", "uses_iso_format", "uses_network_token", "uses_retry"]


def test_decision_carries_a_bandit_choice_equal_to_sql(served, decider):
    connection = duckdb.connect()
    register_bandit(connection, ModelRegistry(served.workspace.model_registry).load(OPTIMIZATION_ORACLE), policy=decider.bandit.policy)
    for index, case in enumerate(served.cases):
        payment = {**case.payment, "decision_id": f"dec-{index}"}
        optimization = decider.decide(payment)["optimization"]
        assert optimization["decision_id"] == f"dec-{index}" and optimization["policy_version"] == decider.bandit.policy_version
        candidates = optimization["candidates"]
        assert [c["action"] for c in candidates] == sorted(c["action"] for c in candidates)
        assert math.isclose(sum(c["probability"] for c in candidates), 1.0, abs_tol=1e-9)
        chosen = next(c for c in candidates if c["action"] == optimization["chosen_action"])
        assert chosen["probability"] == optimization["propensity"]
        assert decider.decide(payment)["optimization"] == optimization, "the same decision id must make the same choice"
        features = decider.decide(payment)["features_used"]
        row = {"decision_id": [f"dec-{index}"], "card_network": [payment["card_network"].lower()], "is_card_not_present": [True],
               **{name: [features[name]] for name in decider.bandit.context_features}}
        connection.register("one_payment", pa.table(row))
        [(chosen_sql, propensity_sql)] = connection.execute(
            "select chosen_action, propensity from decide_optimization('one_payment')").fetchall()
        assert chosen_sql == optimization["chosen_action"]
        assert propensity_sql == pytest.approx(optimization["propensity"], abs=1e-12)


def test_card_present_narrows_the_actions_and_unknown_networks_get_a_reason(served, decider):
    payment = {**served.cases[-1].payment, "decision_id": "dec-present"}
    present = decider.decide({**payment, "card_present": True})["optimization"]
    assert present["candidates"] and not any("3ds" in c["action"] for c in present["candidates"])
    not_present = decider.decide(payment)["optimization"]
    assert any("3ds" in c["action"] for c in not_present["candidates"])
    unknown = decider.decide({**payment, "card_network": "unionpay"})["optimization"]
    assert unknown["chosen_action"] is None and "no optimisation is eligible for card network 'unionpay'" in unknown["reason"]
    with pytest.raises(DecisionInputError, match="card_present"):
        decider.decide({**payment, "card_present": "yes"})
    with pytest.raises(DecisionInputError, match="decision_id"):
        decider.decide({**payment, "decision_id": ""})


def test_spooled_decisions_reach_the_decision_log(served, tmp_path):
    spool = DecisionSpool(tmp_path / "spool", max_rows=2, max_seconds=0)
    decider = DeclineDecider(served.workspace, spool=spool)
    payments = [{**case.payment, "decision_id": f"spooled-{index}", "customer_id": f"cust-{index}"}
                for index, case in enumerate(served.cases)]
    answers = [decider.decide(payment)["optimization"] for payment in payments]
    decider.decide_many(payments[:1])  # the same decision id again: logged once
    spool.close()
    assert spool.rows_written == len(payments) + 1 and spool.files_written >= 2
    connection = duckdb.connect()
    load = load_spooled_decisions(connection, tmp_path / "spool")
    assert load.rows == len(payments) + 1
    assert load.append.written == len(payments) and load.append.duplicates_in_batch + load.append.already_logged == 1
    logged = {row[0]: row[1:] for row in connection.execute(
        "select decision_id, chosen_action, propensity, customer_id, policy_name from decisions.decision_log").fetchall()}
    for payment, answer in zip(payments, answers):
        assert logged[payment["decision_id"]] == (answer["chosen_action"], answer["propensity"], payment["customer_id"], "optimization_bandit")
    assert load_spooled_decisions(connection, tmp_path / "spool").files == 0, "loaded files move to loaded/"
    assert len(list((tmp_path / "spool" / "loaded").glob("*.parquet"))) == load.files


def test_published_health_factors_reach_the_online_bandit(served):
    """`publish_factors` writes the factors a running decider picks up before its next decision: an
    action whose outcomes fell short of the oracle loses probability; removing the file restores
    the plain policy."""
    decider = DeclineDecider(served.workspace)
    payment = {**served.cases[0].payment, "decision_id": "health-1"}
    plain = decider.decide(payment)["optimization"]
    chosen = plain["chosen_action"]
    connection = duckdb.connect()
    at = datetime(2025, 3, 1, 12)
    append_decisions(connection, [Decision(f"h{i}", "optimization_bandit", "v1", f"c{i}", at + timedelta(minutes=i),
                                           (Candidate(chosen, 1.0, 0.9),), chosen) for i in range(300)])
    append_rewards(connection, [Reward(f"h{i}", at + timedelta(minutes=i, seconds=1), i % 3 != 0) for i in range(300)])
    path = published_factors_path(served.workspace.root, "optimization_bandit")
    try:
        [group] = publish_factors(connection, served.workspace.root, "optimization_bandit", at + timedelta(days=1))
        assert group["action_group"] == chosen and group["decisions"] == 300 and group["factor"] == pytest.approx((200 + 50) / (270 + 50))
        recalibrated = decider.decide(payment)["optimization"]
        assert decider.bandit.health_factors == {chosen: group["factor"]}
        before = {c["action"]: c["probability"] for c in plain["candidates"]}
        after = {c["action"]: c["probability"] for c in recalibrated["candidates"]}
        assert after[chosen] < before[chosen] and math.isclose(sum(after.values()), 1.0, abs_tol=1e-9)
        assert [c["predicted_approval"] for c in recalibrated["candidates"]] == [c["predicted_approval"] for c in plain["candidates"]]
        path.write_text("{not json")
        with pytest.raises(RoutingError, match="not an action-health file"):
            decider.decide(payment)
    finally:
        path.unlink(missing_ok=True)
    assert decider.decide(payment)["optimization"] == plain and decider.bandit.health_factors == {}


def test_load_decisions_command(served, tmp_path):
    """`payloom load-decisions` appends a workspace's spool to its warehouse and reports the counts."""
    workspace = Workspace.at(tmp_path / "workspace")
    workspace.root.mkdir(parents=True)
    duckdb.connect(str(workspace.warehouse)).close()
    decider = DeclineDecider(served.workspace, spool=DecisionSpool(workspace.root / SPOOL_FOLDER, max_seconds=0))
    decider.decide_many([{**case.payment, "decision_id": f"cli-{index}"} for index, case in enumerate(served.cases)])
    decider.spool.close()
    command = [str(Path(sys.executable).parent / "payloom"), "load-decisions", "--workspace", str(workspace.root)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    cases = len(served.cases)
    assert f"1 files, {cases} decisions: {cases} written to decisions.decision_log" in result.stdout
    assert "action health of optimization_bandit: no decision with a reward yet" in result.stdout
    assert read_published_factors(published_factors_path(workspace.root, "optimization_bandit")) == {}
    with duckdb.connect(str(workspace.warehouse)) as connection:
        assert connection.execute("select count(*) from decisions.decision_log").fetchone()[0] == cases
        logged = connection.execute("select decision_id, decided_at, chosen_action from decisions.decision_log").fetchall()
        append_rewards(connection, [Reward(decision_id, decided_at + timedelta(seconds=1), False) for decision_id, decided_at, _ in logged])
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)        # nothing new to load; rewards now known
    assert again.returncode == 0, again.stderr
    assert "0 files, 0 decisions" in again.stdout and "action health of optimization_bandit (last 1,200 judged decisions" in again.stdout
    published = read_published_factors(published_factors_path(workspace.root, "optimization_bandit"))
    assert set(published) == {action for _, _, action in logged} and all(factor < 1 for factor in published.values())
    missing = subprocess.run([*command[:-1], str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
