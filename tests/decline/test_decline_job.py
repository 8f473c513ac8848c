"""The decline job end to end: trained models beat the rules, SQL scores equal the booster,
the registry holds both versions with their policy, and batch scoring is incremental."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.decline_models import DECLINE_FEATURES, DECLINE_TYPES
from scoring.feature_build import build_features
from udfs import ModelRegistry, register_models


def _scorer(report, prefix):
    return next(metrics for name, metrics in report.scorers.items() if name.startswith(prefix))


def test_model_beats_rules_and_stays_below_the_oracle(trained):
    _, report = trained
    model, rules, oracle = _scorer(report, "issuer_decline"), _scorer(report, "rule baseline"), _scorer(report, "simulator oracle")
    assert model["rows"] == rules["rows"] == oracle["rows"] > 1_000
    # Better than declaring at random (PR-AUC of a random score is the decline rate) and than rules.
    assert model["pr_auc"] > 1.5 * model["positive_rate"]
    assert model["pr_auc"] > rules["pr_auc"]
    assert model["precision_at_recall_0.5"] > rules["precision_at_recall_0.5"]
    # Nothing learnt from data can beat the true probabilities by more than noise.
    assert oracle["pr_auc"] > model["pr_auc"] - 0.02
    model_types = next(metrics for name, metrics in report.type_metrics.items() if name.startswith("decline_type"))
    assert model_types["accuracy"] > 1.0 / len(DECLINE_TYPES)
    text = report.format()
    for expected in ("PR-AUC", "simulator oracle", "rule baseline", "decline policy thresholds", "recommended actions"):
        assert expected in text


def test_sql_scores_equal_the_booster_and_cover_every_attempt(trained):
    workspace, report = trained
    assert report.compiled_max_difference <= 1e-6
    registry = ModelRegistry(workspace.model_registry)
    decline = registry.load("issuer_decline")
    assert decline.manifest.feature_names == list(DECLINE_FEATURES)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        scored, attempts, versions = connection.execute(
            "select (select count(*) from scores.scores_issuer_decline), (select count(*) from marts.fct_authorizations),"
            " (select list(distinct decline_model_version) from scores.scores_issuer_decline)"
        ).fetchone()
        assert scored == attempts and versions == [decline.manifest.version]
        # The multiclass scores are probabilities over the contract's decline types.
        sums = connection.execute(
            "select min(p_insufficient_funds + p_do_not_honor + p_hard_decline + p_authentication_required + p_technical),"
            " max(p_insufficient_funds + p_do_not_honor + p_hard_decline + p_authentication_required + p_technical)"
            " from scores.scores_issuer_decline"
        ).fetchone()
    assert abs(sums[0] - 1) < 1e-5 and abs(sums[1] - 1) < 1e-5


def test_registry_manifest_records_metrics_data_and_policy(trained):
    workspace, report = trained
    manifest = json.loads((ModelRegistry(workspace.model_registry).load("issuer_decline").directory / "manifest.json").read_text())
    assert manifest["output"]["classes"] == ["approved", "declined"]
    assert manifest["metrics"]["test_pr_auc"] > 0
    assert manifest["training_data"]["train"]["rows"] > manifest["training_data"]["test"]["rows"] > 0
    assert manifest["training_data"]["train"]["to"] <= manifest["training_data"]["validation"]["from"]
    assert len(manifest["training_data"]["train"]["fingerprint"]) == 64
    policy = manifest["decision_policy"]
    assert set(policy["thresholds"]) == {"step_up_authentication", "offer_other_instrument", "stand_in_approval"}
    assert policy == report.policy


def test_policy_macro_in_plain_duckdb_matches_the_scores_table(trained):
    """Any Python DuckDB connection gets score_* and decline_action_* with one call."""
    workspace, _ = trained
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        functions = register_models(connection, workspace.model_registry)
        assert {"score_issuer_decline", "score_decline_type", "decline_action_issuer_decline"} <= set(functions)
        mismatches = connection.execute(
            """
            with rescored as (
                select features.attempt_id,
                       score_issuer_decline(COLUMNS_DECLINE) as p,
                       score_decline_type(COLUMNS_DECLINE) as t,
                       features.other_approved_cards, features.attempts_before, features.decline_ratio_90d,
                       features.gateway_segment_approval_rate_1h, features.gateway_segment_approval_rate_7d
                from intermediate.int_authorization_features as features
            )
            select count(*) filter (where abs(rescored.p - scores.decline_probability) > 1e-12
                                       or decline_action_issuer_decline(p, t, other_approved_cards, attempts_before,
                                            decline_ratio_90d, gateway_segment_approval_rate_1h,
                                            gateway_segment_approval_rate_7d) <> scores.recommended_action),
                   count(*)
            from rescored inner join scores.scores_issuer_decline as scores using (attempt_id)
            """.replace("COLUMNS_DECLINE", ", ".join(f"features.{name}" for name in DECLINE_FEATURES))
        ).fetchone()
    assert mismatches[0] == 0 and mismatches[1] > 0


def test_batch_scoring_scores_only_new_attempts(trained, tmp_path):
    workspace, _ = trained
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        before = connection.execute("select attempt_id, scored_at, decline_probability from scores.scores_issuer_decline").df()
    # 40 late-arriving attempts: copies of existing rows under new ids, in a new raw file.
    existing = pq.read_table(workspace.raw_dir / "payment_attempts")
    late = existing.slice(0, 40)
    late = late.set_column(late.schema.get_field_index("attempt_id"), "attempt_id",
                           pa.array([f"late-{index}" for index in range(40)]))
    pq.write_table(late, workspace.raw_dir / "payment_attempts" / "late-arrivals.parquet")
    build_features(workspace, feature_cutoff_at=datetime(2025, 3, 17), load_started_at=datetime(2026, 1, 1), echo=None)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        after = connection.execute("select attempt_id, scored_at, decline_probability from scores.scores_issuer_decline").df()
        clean_late = connection.execute("select count(*) from marts.fct_authorizations where attempt_id like 'late-%'").fetchone()[0]
    assert clean_late > 0
    assert len(after) == len(before) + clean_late
    merged = before.merge(after, on="attempt_id", suffixes=("_before", "_after"))
    assert len(merged) == len(before), "rows scored before must stay"
    assert (merged.scored_at_before == merged.scored_at_after).all()
    assert np.array_equal(merged.decline_probability_before, merged.decline_probability_after)
    assert after.attempt_id.str.startswith("late-").sum() == clean_late
