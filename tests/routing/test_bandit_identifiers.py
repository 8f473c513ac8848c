"""The optimisation bandit's name and eligibility key columns become SQL identifiers: a crafted one is
refused before anything is registered; a reserved, mixed-case one is quoted and decides as the default."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from scoring.bandit_decisions import default_eligibility, register_bandit
from scoring.bandit_policy import BanditPolicy
from scoring.errors import InvalidIdentifierError

POLICY = BanditPolicy(alpha=0.8, temperature=0.05, seed=17)
HOSTILE = ["x; drop table t; --", 'a" or "1', "decide\n", "x'y", "", "1abc", "main.decide"]


def _catalog(connection: duckdb.DuckDBPyConnection) -> tuple:
    return (
        connection.execute("select schema_name, table_name from duckdb_tables() order by all").fetchall(),
        connection.execute("select function_name from duckdb_functions() where not internal order by all").fetchall(),
        connection.execute("select * from t").fetchall(),
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_register_bandit_refuses_a_crafted_name_or_key_column(oracle, name: str) -> None:
    connection = duckdb.connect()
    connection.execute("create table t as select 42 as kept")
    before = _catalog(connection)
    with pytest.raises(InvalidIdentifierError, match="bandit .* name"):
        register_bandit(connection, oracle[0], policy=POLICY, name=name)
    eligibility = default_eligibility().rename_columns(["card_network" if name == "" else name, "is_card_not_present", "action"])
    if name:
        with pytest.raises(InvalidIdentifierError, match="eligibility key column name"):
            register_bandit(connection, oracle[0], policy=POLICY, eligibility=eligibility)
    assert _catalog(connection) == before


def test_a_reserved_mixed_case_bandit_name_and_key_column_decide_as_the_default(bandit_world_data, oracle) -> None:
    payments = bandit_world_data.payments.slice(0, 500)
    connection = duckdb.connect()
    register_bandit(connection, oracle[0], policy=POLICY)
    connection.register("payments", payments)
    expected = connection.sql("select decision_id, chosen_action, propensity from decide_optimization('payments') order by all").fetchall()

    awkward = duckdb.connect()
    eligibility = default_eligibility().rename_columns(["Order", "is_card_not_present", "action"])
    bandit = register_bandit(awkward, oracle[0], policy=POLICY, eligibility=eligibility, name="Select")
    renamed = payments.rename_columns(["Order" if column == "card_network" else column for column in payments.column_names])
    awkward.register("payments", renamed)
    chosen = awkward.sql('select decision_id, chosen_action, propensity from "Select"(\'payments\') order by all').fetchall()
    assert chosen == expected and len(chosen) == 500
    in_process = bandit.decisions_table(bandit.decide_table(renamed)).sort_by("decision_id")
    assert in_process["chosen_action"].to_pylist() == [row[1] for row in expected]
