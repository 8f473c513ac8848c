"""Before any model is trained, a full `dbt build` still succeeds: the scores table is empty."""

from __future__ import annotations


def test_scores_table_is_empty_but_typed_before_training(warehouse, built_workspace):
    assert not built_workspace.model_registry.exists() or not any(built_workspace.model_registry.iterdir())
    assert warehouse.execute("select count(*) from scores.scores_issuer_decline").fetchone()[0] == 0
    columns = dict(warehouse.execute("select column_name, data_type from information_schema.columns "
                                     "where table_schema = 'scores' and table_name = 'scores_issuer_decline'").fetchall())
    assert columns["decline_probability"] == "DOUBLE" and columns["recommended_action"] == "VARCHAR"
    assert warehouse.execute("select count(*) from marts.fct_authorizations").fetchone()[0] > 0
