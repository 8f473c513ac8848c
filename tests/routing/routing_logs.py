"""Synthetic routing logs with known truth: the issue's 40/60 example and a segmented variant.

The 40/60 example: the logging policy sends 40% of payments to gw_a (approves 75%) and 60% to
gw_b (approves 60%), whatever the context; two context features are noise. A multiclass model of
(gateway, outcome) trained on the log as it is learns P(gateway logged and approved): 0.4 x 0.75 =
0.30 for gw_a < 0.6 x 0.60 = 0.36 for gw_b, so it prefers gw_b. The IPW bootstrap removes the
routing frequency and the model prefers gw_a, the better gateway.

The segmented log: propensities vary with the segment (so each row's own propensity matters),
and the best gateway differs by segment:

    segment  P(gw_a logged)  P(approve | gw_a)  P(approve | gw_b)  best  naive prefers
    0        0.2             0.80               0.60               gw_a  gw_b (0.16 < 0.48)
    1        0.6             0.70               0.60               gw_a  gw_a (0.42 > 0.24)
    2        0.7             0.50               0.70               gw_b  gw_a (0.35 > 0.21)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

GATEWAYS = ("gw_a", "gw_b")
FORTY_SIXTY_FEATURES = ("noise_1", "noise_2")
SEGMENT_SHARE_A = np.array([0.2, 0.6, 0.7])
SEGMENT_APPROVAL = np.array([[0.80, 0.60], [0.70, 0.60], [0.50, 0.70]])
SEGMENT_BEST = ("gw_a", "gw_a", "gw_b")
SEGMENT_NAIVE = ("gw_b", "gw_a", "gw_a")


def forty_sixty_log(rows: int = 20_000, seed: int = 0) -> pa.Table:
    """The issue's example: 40/60 logging, gw_a approves 75%, gw_b 60%; features noise_1, noise_2."""
    rng = np.random.default_rng(seed)
    on_a = rng.random(rows) < 0.4
    approved = rng.random(rows) < np.where(on_a, 0.75, 0.60)
    return pa.table({
        "noise_1": rng.normal(size=rows), "noise_2": rng.uniform(0, 10, rows),
        "gateway": np.where(on_a, "gw_a", "gw_b"), "is_approved": approved,
        "decision_propensity": np.where(on_a, 0.4, 0.6),
    })


def segmented_log(rows: int = 30_000, seed: int = 1) -> pa.Table:
    """Three segments (one-hot features segment_0..2 and a noise feature); table above."""
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, 3, rows)
    on_a = rng.random(rows) < SEGMENT_SHARE_A[segment]
    approved = rng.random(rows) < SEGMENT_APPROVAL[segment, np.where(on_a, 0, 1)]
    columns = {f"segment_{k}": (segment == k).astype(np.float64) for k in range(3)}
    return pa.table({
        **columns, "noise": rng.normal(size=rows), "segment": segment,
        "gateway": np.where(on_a, "gw_a", "gw_b"), "is_approved": approved,
        "decision_propensity": np.where(on_a, SEGMENT_SHARE_A[segment], 1 - SEGMENT_SHARE_A[segment]),
    })
