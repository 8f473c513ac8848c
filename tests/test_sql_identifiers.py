"""Every table, view, column and macro name a caller hands to scoring's SQL is checked where it enters
and quoted through sqlglot: a crafted name is refused with InvalidIdentifierError (and the module's own
error where it had one) before anything is created or dropped; a legal but awkward name (a reserved
word, mixed case, a schema-qualified table) works."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from scoring.action_health import ActionHealth
from scoring.decision_history import create_bandit_views
from scoring.decision_log import Candidate, Decision, Reward, append_decisions, append_rewards
from scoring.errors import DecisionLogError, InvalidIdentifierError, PolicyEvaluationError
from scoring.feature_serving import busiest_card_last_attempt
from scoring.ipw_routing import register_route_macro, register_routing_macros
from scoring.off_policy import LogColumns, estimator_sql, evaluate_policy
from scoring.open_bandit import register_open_bandit_log
from scoring.routing_log import load_routing_log
from scoring.softmax_regression import fit_softmax_regression
from scoring.training_sets import load_training_frame
from scoring.workspace import Workspace

HOSTILE = ["x; drop table t; --", 'a" or "1', "logged\n", "x'y", "", "1abc", "a.b.c.d", "a..b", " logged"]
HOSTILE_COLUMNS = [name for name in HOSTILE if name not in ("a.b.c.d", "a..b")] + ["schema.column"]
NOON = datetime(2025, 3, 1, 12)


def _catalog(connection: duckdb.DuckDBPyConnection) -> tuple:
    """Every schema, table, view and macro of the connection, and the sentinel table's rows."""
    return (
        connection.execute("select schema_name from duckdb_schemas() where not internal order by all").fetchall(),
        connection.execute("select schema_name, table_name from duckdb_tables() order by all").fetchall(),
        connection.execute("select schema_name, view_name from duckdb_views() where not internal order by all").fetchall(),
        connection.execute("select function_name from duckdb_functions() where not internal order by all").fetchall(),
        connection.execute("select * from t").fetchall(),
    )


@pytest.fixture
def connection() -> duckdb.DuckDBPyConnection:
    """A log and a target policy in plain names, and a sentinel table `t` a crafted name would drop."""
    connection = duckdb.connect()
    connection.execute("create table t as select 42 as kept")
    connection.execute("""create table logged as select * from (values ('c1', 'a', 1.0, 0.5), ('c2', 'b', 0.0, 0.5),
        ('c3', 'a', 1.0, 0.25)) as v(context_id, action, reward, propensity)""")
    connection.execute("""create table target as select * from (values ('c1', 'a', 1.0), ('c1', 'b', 0.0), ('c2', 'a', 1.0),
        ('c2', 'b', 0.0), ('c3', 'a', 0.5), ('c3', 'b', 0.5)) as v(context_id, action, probability)""")
    return connection


# Off-policy evaluation -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE)
def test_evaluate_policy_refuses_a_crafted_relation_name(connection, name: str) -> None:
    before = _catalog(connection)
    for log, target in ((name, "target"), ("logged", name)):
        with pytest.raises(InvalidIdentifierError, match="expected the name of a table or view") as raised:
            evaluate_policy(connection, log, target)
        assert isinstance(raised.value, PolicyEvaluationError)
    with pytest.raises(InvalidIdentifierError):
        evaluate_policy(connection, "logged", "target", reward_model=name)
    with pytest.raises(InvalidIdentifierError):
        estimator_sql("logged", "target", reward_model=name)
    assert _catalog(connection) == before


@pytest.mark.parametrize("name", HOSTILE_COLUMNS)
def test_log_columns_refuse_a_crafted_column_name(name: str) -> None:
    for field in ("context", "action", "reward", "propensity", "probability", "predicted_reward"):
        with pytest.raises(InvalidIdentifierError, match=f"LogColumns.{field} name .* is not allowed: expected letters, digits and underscores"):
            LogColumns(**{field: name})


def test_a_column_whose_name_is_sql_is_never_pasted_into_the_query(connection) -> None:
    crafted = 'reward"::double as reward, propensity from logged; drop table t; --'
    connection.execute(f'create table crafted as select context_id, action, reward as "{crafted.replace(chr(34), chr(34) * 2)}", propensity from logged')
    before = _catalog(connection)
    with pytest.raises(InvalidIdentifierError, match="LogColumns.reward name"):
        evaluate_policy(connection, "crafted", "target", columns=LogColumns(reward=crafted))
    assert _catalog(connection) == before


def test_evaluate_policy_reads_reserved_mixed_case_and_schema_qualified_names(connection) -> None:
    connection.execute('create schema "order"')
    connection.execute('''create table "order"."Select" as select context_id as "Context", action as "group",
        reward as "Order", propensity as "from" from logged''')
    connection.execute('create table "Where" as select context_id as "Context", action as "group", probability as "from" from target')
    columns = LogColumns(context="Context", action="group", reward="Order", propensity="from", probability="from")
    awkward = evaluate_policy(connection, "order.Select", "Where", columns=columns)
    plain = evaluate_policy(connection, "logged", "target")
    assert awkward.estimates == plain.estimates
    assert awkward.estimates["ips"].value == pytest.approx(4 / 3)


# Open Bandit Dataset log --------------------------------------------------------------------------

@pytest.fixture
def obd_csv(tmp_path) -> str:
    path = tmp_path / "it's all.csv"      # a quote in the path: the path is an escaped literal
    path.write_text(",timestamp,item_id,position,click,propensity_score,user_feature_0\n"
                    "0,2019-11-24 00:03:13.442536+00:00,14,3,1,0.0125,cef3390e\n")
    return str(path)


@pytest.mark.parametrize("name", HOSTILE_COLUMNS)
def test_register_open_bandit_log_refuses_a_crafted_view_name(connection, obd_csv: str, name: str) -> None:
    before = _catalog(connection)
    with pytest.raises(InvalidIdentifierError, match="view name .* is not allowed") as raised:
        register_open_bandit_log(connection, obd_csv, view=name)
    assert isinstance(raised.value, PolicyEvaluationError)
    assert _catalog(connection) == before


@pytest.mark.parametrize("view", ["order", "Open_Bandit"])
def test_register_open_bandit_log_creates_a_reserved_or_mixed_case_view(connection, obd_csv: str, view: str) -> None:
    log = register_open_bandit_log(connection, obd_csv, view=view)
    assert log.view == view
    quoted = '"' + view + '"'
    assert connection.execute(f"select context_id, action, reward, propensity from {quoted}").fetchall() == [("0", 14, 1.0, 0.0125)]


# Decision log views and action health ---------------------------------------------------------------

def _log_decisions(connection: duckdb.DuckDBPyConnection) -> None:
    routes = (Candidate("gw_a", 0.5, 0.9), Candidate("gw_b", 0.5, 0.8))
    append_decisions(connection, [Decision(f"d{i}", "routing", "v1", f"att_{i}", NOON + timedelta(minutes=i), routes,
                                           "gw_a" if i % 2 else "gw_b") for i in range(6)])
    append_rewards(connection, [Reward(f"d{i}", NOON + timedelta(minutes=i, seconds=30), i % 3 == 0) for i in range(6)])


@pytest.mark.parametrize("prefix", HOSTILE_COLUMNS)
def test_create_bandit_views_refuses_a_crafted_prefix(connection, prefix: str) -> None:
    before = _catalog(connection)
    with pytest.raises(InvalidIdentifierError, match="view prefix name .* is not allowed") as raised:
        create_bandit_views(connection, as_of=NOON + timedelta(hours=1), prefix=prefix)
    assert isinstance(raised.value, DecisionLogError)
    assert _catalog(connection) == before


def test_create_bandit_views_with_a_reserved_word_prefix(connection) -> None:
    _log_decisions(connection)
    plain = create_bandit_views(connection, as_of=NOON + timedelta(hours=1))
    awkward = create_bandit_views(connection, as_of=NOON + timedelta(hours=1), prefix="select")
    assert awkward.log == "select_log"
    first = evaluate_policy(connection, plain.log, plain.logging_policy, reward_model=plain.reward_model)
    second = evaluate_policy(connection, awkward.log, awkward.logging_policy, reward_model=awkward.reward_model)
    assert first.estimates == second.estimates and first.rows_logged == 6


@pytest.mark.parametrize("name", HOSTILE)
def test_action_health_refuses_crafted_log_relations(name: str) -> None:
    health = ActionHealth(k=1.0)
    with pytest.raises(InvalidIdentifierError, match="decision log name"):
        health.table_sql("routing", NOON, log=name)
    with pytest.raises(InvalidIdentifierError, match="decision rewards name"):
        health.table_sql("routing", NOON, rewards=name)


def test_action_health_reads_schema_qualified_reserved_relations(connection) -> None:
    _log_decisions(connection)
    connection.execute('create schema "Group"')
    connection.execute('create view "Group"."order" as select * from decisions.decision_log')
    connection.execute('create view "Group"."Rewards" as select * from decisions.decision_rewards')
    health, as_of = ActionHealth(k=1.0), NOON + timedelta(hours=1)
    moved = connection.execute(health.table_sql("routing", as_of, log="Group.order", rewards="Group.Rewards")).fetchall()
    assert moved == connection.execute(health.table_sql("routing", as_of)).fetchall() and len(moved) == 2


# Training sets and routing logs ---------------------------------------------------------------------

@pytest.fixture
def training_table(connection) -> duckdb.DuckDBPyConnection:
    connection.execute('create schema "order"')
    connection.execute('''create table "order"."Group" as select i as "key", timestamp '2025-01-01' + to_days(i) as "Order",
        i::double as "select", i % 2 = 0 as "Label", 'gw_' || (i % 2) as gateway, i % 3 > 0 as is_approved,
        0.5 as decision_propensity from range(6) r(i)''')
    return connection


@pytest.mark.parametrize("name", HOSTILE)
def test_load_training_frame_refuses_crafted_names(training_table, name: str) -> None:
    before = _catalog(training_table)
    with pytest.raises(InvalidIdentifierError, match="training set relation name"):
        load_training_frame(training_table, name, ["select"], timestamp_column="Order", label_columns=["Label"], key_column="key")
    if name not in ("a.b.c.d", "a..b"):
        for changed in ({"timestamp_column": name}, {"label_columns": [name]}, {"key_column": name}, {"extra_columns": [name]}):
            arguments = {"timestamp_column": "Order", "label_columns": ["Label"], "key_column": "key", **changed}
            with pytest.raises(InvalidIdentifierError, match="training set column name"):
                load_training_frame(training_table, "order.Group", ["select"], **arguments)
        with pytest.raises(InvalidIdentifierError, match="training set column name"):
            load_training_frame(training_table, "order.Group", [name], timestamp_column="Order", label_columns=["Label"], key_column="key")
    assert _catalog(training_table) == before


def test_load_training_frame_reads_reserved_mixed_case_and_schema_qualified_names(training_table) -> None:
    frame = load_training_frame(training_table, "order.Group", ["select"], timestamp_column="Order", label_columns=["Label"],
                                key_column="key")
    assert frame.features[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert frame.labels["Label"].tolist() == [True, False, True, False, True, False]


@pytest.mark.parametrize("name", HOSTILE)
def test_load_routing_log_refuses_crafted_names(training_table, name: str) -> None:
    before = _catalog(training_table)
    with pytest.raises(InvalidIdentifierError, match="routing log relation name"):
        load_routing_log(training_table, ["select"], relation=name)
    if name not in ("a.b.c.d", "a..b"):
        with pytest.raises(InvalidIdentifierError, match="routing feature column name"):
            load_routing_log(training_table, [name], relation="order.Group")
    assert _catalog(training_table) == before


def test_load_routing_log_reads_a_schema_qualified_reserved_relation(training_table) -> None:
    log = load_routing_log(training_table, ["select"], relation="order.Group")
    assert log.gateways == ("gw_0", "gw_1") and log.features[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


# Routing macros -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def softmax():
    x = np.array([[0.0], [1.0], [4.0], [5.0], [9.0], [10.0]])
    return fit_softmax_regression(x, np.array([0, 0, 1, 1, 2, 2]), ("gw'a", 'gw"b', "declined"), ("order",), l2=0.1)


@pytest.mark.parametrize("name", HOSTILE_COLUMNS)
def test_routing_macros_refuse_a_crafted_name(connection, softmax, name: str) -> None:
    before = _catalog(connection)
    with pytest.raises(InvalidIdentifierError, match="routing model .* name"):
        register_route_macro(connection, name, ("gw_a", "gw_b"))
    with pytest.raises(InvalidIdentifierError, match="routing model .* name"):
        register_routing_macros(connection, name, softmax)
    assert _catalog(connection) == before


def test_routing_macros_take_reserved_names_and_gateways_with_quotes(connection, softmax) -> None:
    assert register_routing_macros(connection, "Order", softmax) == ["score_Order", "route_Order"]
    chosen = connection.execute("""select route_order(score_order(x), ['gw''a', 'gw"b']) from (values (0.0), (5.0)) v(x)""").fetchall()
    assert chosen == [("gw'a",), ('gw"b',)]
    with pytest.raises(duckdb.Error, match="""route_Order: eligible gateway 'gw_c' is not among the model's classes gw'a, gw"b"""):
        connection.execute("select route_order(score_order(1.0), ['gw_c'])").fetchall()


# Feature serving ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_COLUMNS)
def test_busiest_card_last_attempt_refuses_a_crafted_column_before_opening_the_warehouse(tmp_path, name: str) -> None:
    workspace = Workspace.at(tmp_path)
    with pytest.raises(InvalidIdentifierError, match="fct_authorizations column name"):
        busiest_card_last_attempt(workspace, ("card_id", name))
    assert not workspace.warehouse.exists()
