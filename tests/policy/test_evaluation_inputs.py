"""Inputs that do not fit together are errors that say what was expected and what to do."""

from __future__ import annotations

import duckdb
import pytest

from scoring.errors import ExcludedRowsWarning, PolicyEvaluationError
from scoring.off_policy import LogColumns, evaluate_policy


@pytest.fixture
def connection() -> duckdb.DuckDBPyConnection:
    """A clean two-context log, a target over actions a and b, and a reward model for both."""
    connection = duckdb.connect()
    connection.execute("""create table logged as select * from (values ('c1', 'a', 1.0, 0.5), ('c2', 'b', 0.0, 0.5))
                          as t(context_id, action, reward, propensity)""")
    connection.execute("""create table target as select * from (values ('c1', 'a', 0.3), ('c1', 'b', 0.7), ('c2', 'a', 1.0), ('c2', 'b', 0.0))
                          as t(context_id, action, probability)""")
    connection.execute("create table model as select context_id, action, 0.5::double as predicted_reward from target")
    return connection


def test_a_missing_column_names_the_column_and_the_mapping_to_use(connection) -> None:
    connection.execute("create table clicks as select context_id, action, reward as click, propensity from logged")
    with pytest.raises(PolicyEvaluationError, match=r"the log 'clicks' has no column 'reward' \(its columns: context_id, action, click, "
                                                    r"propensity\): name the log's reward column with LogColumns\(reward=...\)"):
        evaluate_policy(connection, "clicks", "target")
    assert evaluate_policy(connection, "clicks", "target", columns=LogColumns(reward="click")).estimates["ips"].value == pytest.approx(0.3)
    with pytest.raises(PolicyEvaluationError, match="the reward model 'target' has no column 'predicted_reward'"):
        evaluate_policy(connection, "logged", "target", reward_model="target")


def test_an_unknown_relation_or_a_query_instead_of_a_name(connection) -> None:
    with pytest.raises(PolicyEvaluationError, match="the target policy 'nowhere' is not a table or view of this connection"):
        evaluate_policy(connection, "logged", "nowhere")
    with pytest.raises(PolicyEvaluationError, match="expected the name of a table or view .* create a view for a query first"):
        evaluate_policy(connection, "select * from logged", "target")


def test_a_logged_action_outside_the_eligible_set_is_an_error(connection) -> None:
    connection.execute("insert into logged values ('c3', 'z', 1.0, 0.2)")
    connection.execute("insert into target values ('c3', 'a', 0.5), ('c3', 'b', 0.5)")
    with pytest.raises(PolicyEvaluationError, match=r"1 logged actions are outside the target policy's eligible set \(c3: z not in a, b\): "
                                                    "list every eligible action of each context .* probability 0"):
        evaluate_policy(connection, "logged", "target")


def test_a_deterministic_target_must_still_list_its_zero_probability_actions(connection) -> None:
    connection.execute("delete from target where probability = 0")
    with pytest.raises(PolicyEvaluationError, match=r"\(c2: b not in a\)"):
        evaluate_policy(connection, "logged", "target")


def test_a_logged_context_without_target_probabilities_is_an_error(connection) -> None:
    connection.execute("delete from target where context_id = 'c2'")
    with pytest.raises(PolicyEvaluationError, match="1 logged contexts of 'logged' have no target policy probabilities in 'target' \\(e.g. 'c2'\\)"):
        evaluate_policy(connection, "logged", "target")


@pytest.mark.parametrize(("change", "message"), [
    ("update target set probability = 0.6 where context_id = 'c1' and action = 'b'",
     r"the target policy's probabilities of 1 contexts do not sum to 1 \(e.g. context 'c1' sums to 0.9\): normalise them per context"),
    ("update target set probability = -0.5 where context_id = 'c1' and action = 'a'", r"probabilities are NULL or outside \[0, 1\]"),
    ("update target set probability = null where context_id = 'c1' and action = 'a'", r"probabilities are NULL or outside \[0, 1\]"),
    ("insert into target values ('c1', 'a', 0.0)", r"\(context, action\) pairs occur more than once in the target policy"),
])
def test_a_target_policy_that_is_not_a_distribution_is_an_error(connection, change, message) -> None:
    connection.execute(change)
    with pytest.raises(PolicyEvaluationError, match=message):
        evaluate_policy(connection, "logged", "target")


def test_a_context_logged_twice_is_an_error(connection) -> None:
    connection.execute("insert into logged values ('c1', 'b', 0.0, 0.5)")
    with pytest.raises(PolicyEvaluationError, match="1 context ids occur more than once in the log 'logged' \\(e.g. 'c1'\\)"):
        evaluate_policy(connection, "logged", "target")


def test_eligible_sets_that_do_not_match_the_reward_models_classes_are_an_error(connection) -> None:
    connection.execute("delete from model where action = 'b' and context_id = 'c1'")
    with pytest.raises(PolicyEvaluationError, match=r"the reward model 'model' has no prediction for 1 \(context, action\) pairs of the "
                                                    r"target policy \(e.g. c1: b\): the eligible sets do not match the model's classes"):
        evaluate_policy(connection, "logged", "target", reward_model="model")
    connection.execute("insert into model values ('c1', 'b', 'nan'::double)")
    with pytest.raises(PolicyEvaluationError, match="predicts NULL or NaN for 1 eligible"):
        evaluate_policy(connection, "logged", "target", reward_model="model")


def test_options_out_of_range_are_errors(connection) -> None:
    with pytest.raises(PolicyEvaluationError, match="max_weight must be positive"):
        evaluate_policy(connection, "logged", "target", max_weight=0)
    with pytest.raises(PolicyEvaluationError, match=r"confidence must be in \(0, 1\)"):
        evaluate_policy(connection, "logged", "target", confidence=95)


def test_target_mass_where_the_logging_policy_never_acts_is_measured_and_warned_about(connection) -> None:
    connection.execute("""create table logging as select * from (values ('c1', 'a', 0.5), ('c1', 'b', 0.5), ('c2', 'a', 0.0), ('c2', 'b', 1.0))
                          as t(context_id, action, probability)""")
    connection.execute("update logged set propensity = 1.0 where context_id = 'c2'")
    with pytest.warns(ExcludedRowsWarning, match="puts 50.000% of its probability .* on actions the logging policy 'logging' never takes"):
        evaluation = evaluate_policy(connection, "logged", "target", logging_policy="logging")
    assert evaluation.target_mass_outside_logging_support == pytest.approx(0.5)


def test_a_logging_policy_that_is_not_a_distribution_is_named_as_such(connection) -> None:
    connection.execute("create table logging as select context_id, action, 0.4 as probability from target")
    with pytest.raises(PolicyEvaluationError, match="the logging policy's probabilities of 2 contexts do not sum to 1"):
        evaluate_policy(connection, "logged", "target", logging_policy="logging")
