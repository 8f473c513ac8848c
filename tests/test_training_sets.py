"""Training sets are point-in-time correct: every feature comes from events before the row."""

from __future__ import annotations

import pandas as pd


def test_decline_training_set_uses_only_earlier_events(warehouse, random_attempts):
    training = warehouse.execute("select * from training.training_issuer_decline").df()
    assert len(training) == len(random_attempts)
    sample = training.sort_values("attempt_id").reset_index(drop=True).sample(n=150, random_state=5)
    attempts = random_attempts
    for row in sample.itertuples(index=False):
        at = pd.Timestamp(row.attempted_at)
        card_before = attempts[(attempts.card_id == row.card_id) & (attempts.attempted_at < at)]
        assert row.attempts_before == len(card_before)
        day = at.floor("D")
        segment = attempts[
            (attempts.card_bin == row.card_bin)
            & (attempts.merchant_category == row.merchant_category)
            & (attempts.attempted_at >= day - pd.Timedelta(days=30))
            & (attempts.attempted_at < day)
        ]
        first_activity = attempts[(attempts.card_bin == row.card_bin) & (attempts.merchant_category == row.merchant_category)].attempted_at.min()
        if first_activity < day:
            assert row.bin_merchant_category_attempts_30d == len(segment)
        else:
            assert pd.isna(row.bin_merchant_category_attempts_30d), "no feature row may exist before the segment's first day"
        hour = at.floor("h")
        gateway_hour = attempts[
            (attempts.gateway == row.gateway) & (attempts.card_network == row.card_network)
            & (attempts.issuer_country == row.issuer_country) & (attempts.transaction_type == row.transaction_type)
            & (attempts.attempted_at >= hour - pd.Timedelta(days=7)) & (attempts.attempted_at < hour)
        ]
        if len(gateway_hour):
            assert abs(row.gateway_segment_approval_rate_7d - gateway_hour.is_approved.mean()) < 1e-12
        assert row.is_declined == (not attempts.set_index("attempt_id").is_approved[row.attempt_id])


def test_routing_training_set_keeps_only_known_propensities(warehouse):
    counts = warehouse.execute(
        "select count(*) filter (where decision_propensity is null), count(*) from training.training_routing"
    ).fetchone()
    assert counts[0] == 0 and counts[1] > 0
