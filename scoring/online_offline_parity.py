"""Online/offline parity: replay real attempts as online decisions and compare with the SQL path.

The offline path is what batch scoring and training read: the attempt's row of
`intermediate.int_authorization_features` (features as of the attempt, computed by dbt) and its
row of `scores.scores_issuer_decline` (the compiled models and the decision policy, called from
SQL). The online path is what the decision service does for the same payment at the same
instant: `DeclineDecider.decide` on features read from the online store.

For the online store to hold the features *as of* each attempt, the replay builds a scratch
Feast store (a SQLite online store in a temporary folder, the workspace's own store is not
touched) and materialises it step by step, up to each sampled attempt's instant in time order,
deciding each attempt right after its step. Every model input, P(decline), each decline type's
probability and the recommended action must agree (inputs and probabilities within 1e-6); each
disagreement is reported as a row (attempt, field, online value, offline value).

Sampled attempts are drawn (seeded) among those of cards with one attempt at that instant:
two attempts of a card at the same instant share a card-feature row, so neither can be
replayed alone.

    payloom check-parity --workspace build --sample 20
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import duckdb

from scoring.errors import ScoringInputError
from scoring.sql_identifiers import string_literal
from scoring.workspace import Workspace

__all__ = ["ParityDifference", "ParityReport", "check_online_offline_parity", "offline_attempts", "payment_of", "replay_attempts"]

TOLERANCE = 1e-6
PAYMENT_FIELDS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network", "issuer_country",
    "transaction_type", "card_type", "optimization", "currency_code",
)
#: Offline score columns -> the online decision's value.
_SCORES = {
    "decline_probability": lambda decision: decision["decline_probability"],
    "recommended_action": lambda decision: decision["recommended_action"],
}


@dataclass(frozen=True)
class ParityDifference:
    """One field on which the online decision and the offline SQL path disagree."""

    attempt_id: str
    field: str
    online: Any
    offline: Any


@dataclass
class ParityReport:
    """What the replay compared and every difference it found (goal: none)."""

    attempts: list[str]
    fields_compared: int
    differences: list[ParityDifference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.differences

    def format(self) -> str:
        """A short text report: the verdict, then up to 20 differing fields."""
        lines = [
            f"online/offline parity: {len(self.attempts)} attempts replayed as online decisions, "
            f"{self.fields_compared} fields compared with the offline SQL path, "
            f"{len(self.differences)} differ ({self.seconds:.1f} s)"
        ]
        differing = sorted({difference.attempt_id for difference in self.differences})
        if differing:
            lines.append(f"  attempts with differences: {len(differing)} of {len(self.attempts)}")
            lines.append(f"  {'attempt':<22} {'field':<40} {'online':>14} {'offline':>14}")
            for difference in self.differences[:20]:
                lines.append(f"  {difference.attempt_id:<22} {difference.field:<40} {_show(difference.online):>14} {_show(difference.offline):>14}")
            if len(self.differences) > 20:
                lines.append(f"  ... {len(self.differences) - 20} more")
        return "\n".join(lines)


def _show(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def offline_attempts(workspace: Workspace, where: str = "true", limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of int_authorization_features with the request fields (fct_authorizations) and the SQL scores."""
    query = f"""
        select features.*, facts.amount_minor, facts.currency_code, facts.card_expires_on,
               scores.* exclude (attempt_id, attempted_at, card_id, customer_id)
        from intermediate.int_authorization_features as features
        inner join marts.fct_authorizations as facts using (attempt_id)
        inner join scores.scores_issuer_decline as scores using (attempt_id)
        where {where}
        order by features.attempted_at, features.attempt_id
        {f'limit {int(limit)}' if limit else ''}
    """
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        cursor = connection.execute(query)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values)) for values in cursor.fetchall()]


def payment_of(row: dict[str, Any]) -> dict[str, Any]:
    """The request a payment service would send for an offline attempt row (JSON-ready)."""
    payment = {name: row[name] for name in PAYMENT_FIELDS}
    payment["amount_minor"] = int(row["amount_minor"])
    payment["attempted_at"] = row["attempted_at"].isoformat() + "Z"
    payment["card_expires_on"] = row["card_expires_on"].isoformat() if row["card_expires_on"] is not None else None
    payment["other_approved_cards"] = int(row["other_approved_cards"])
    if row.get("attempt_id") is not None:
        # A replayed attempt's decision id: the optimisation bandit's draw is seeded by it, so replays repeat.
        payment["decision_id"] = f"replay-{row['attempt_id']}"
    return payment


def sample_attempt_ids(workspace: Workspace, sample: int, *, seed: int = 0) -> list[str]:
    """`sample` scored attempts (seeded), each the only attempt of its card at its instant."""
    if sample < 1:
        raise ScoringInputError(f"sample must be at least 1 attempt, got {sample}")
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        rows = connection.execute(
            """
            with unique_instants as (
                select card_id, attempted_at from marts.fct_authorizations group by all having count(*) = 1
            )
            select facts.attempt_id
            from marts.fct_authorizations as facts
            semi join scores.scores_issuer_decline as scores on scores.attempt_id = facts.attempt_id
            semi join unique_instants on unique_instants.card_id = facts.card_id and unique_instants.attempted_at = facts.attempted_at
            order by hash(facts.attempt_id, ?)
            limit ?
            """,
            [seed, sample],
        ).fetchall()
    if not rows:
        raise ScoringInputError(
            f"workspace {workspace.root} has no scored attempts to replay: run `payloom run` or `payloom train` first"
        )
    return [row[0] for row in rows]


def _differences(attempt_id: str, decision: dict[str, Any], offline: dict[str, Any], type_names: list[str]) -> tuple[int, list[ParityDifference]]:
    compared, found = 0, []
    for name, online_value in decision["features_used"].items():
        compared += 1
        if not _same_number(online_value, offline[name]):
            found.append(ParityDifference(attempt_id, name, online_value, offline[name]))
    for name, read in _SCORES.items():
        compared += 1
        online_value, offline_value = read(decision), offline[name]
        same = online_value == offline_value if isinstance(offline_value, str) else _same_number(online_value, offline_value)
        if not same:
            found.append(ParityDifference(attempt_id, name, online_value, offline_value))
    for name in type_names:
        compared += 1
        if not _same_number(decision["decline_type"][name], offline[f"p_{name}"]):
            found.append(ParityDifference(attempt_id, f"p_{name}", decision["decline_type"][name], offline[f"p_{name}"]))
    return compared, found


def _same_number(online: Any, offline: Any) -> bool:
    missing_offline = offline is None or (isinstance(offline, float) and math.isnan(offline))
    if online is None:
        return missing_offline
    return not missing_offline and abs(float(online) - float(offline)) <= TOLERANCE


def replay_attempts(
    workspace: Workspace, rows: list[dict[str, Any]], *, scratch_dir: Path, materialise_from: datetime
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], "Workspace"]:
    """Decide each offline row online against a scratch store materialised up to its instant.

    Returns (payment, decision) per row, in the rows' order (which must be by time), and the
    scratch workspace (same data and models, Feast state in `scratch_dir`).
    """
    from scoring.decline_decision import FEATURE_SERVICE, DeclineDecider
    from scoring.feature_store import apply_feature_store, materialize_feature_store
    from scoring.point_in_time import service_views

    instants = [row["attempted_at"] for row in rows]
    if instants != sorted(instants):
        raise ScoringInputError("replay_attempts needs the rows in time order (materialisation only moves forward)")
    scratch = dataclasses.replace(workspace, feature_store_dir=Path(scratch_dir), redis_address=None)
    apply_feature_store(scratch)
    decider = None
    decided = []
    for row in rows:
        materialize_feature_store(scratch, materialise_from, row["attempted_at"], views=service_views(FEATURE_SERVICE))
        decider = decider or DeclineDecider(scratch)
        payment = payment_of(row)
        decided.append((payment, decider.decide(payment)))
    return decided, scratch


def check_online_offline_parity(
    workspace: Workspace, *, sample: int = 20, seed: int = 0, echo: TextIO | None = sys.stderr
) -> ParityReport:
    """Replay `sample` attempts as online decisions and compare them with the offline SQL path."""
    began = time.perf_counter()
    ids = sample_attempt_ids(workspace, sample, seed=seed)
    quoted = ", ".join(string_literal(attempt_id) for attempt_id in ids)
    rows = offline_attempts(workspace, f"attempt_id in ({quoted})")
    if echo is not None:
        print(f"online/offline parity: replaying {len(rows)} attempts on a scratch online store", file=echo, flush=True)
    with duckdb.connect() as connection:
        first = connection.execute(
            "select min(event_timestamp) from read_parquet(?)", [str(workspace.features_dir / "card_features.parquet")]
        ).fetchone()[0]
    scratch_dir = Path(tempfile.mkdtemp(prefix="payloom-parity-"))
    try:
        # Feast prints each materialisation step: progress on `echo`, never on the report's stdout.
        with contextlib.redirect_stdout(echo if echo is not None else io.StringIO()):
            decided, _ = replay_attempts(workspace, rows, scratch_dir=scratch_dir, materialise_from=first - timedelta(days=1))
        from udfs.model_registry import ModelRegistry

        type_names = ModelRegistry(workspace.model_registry).load("decline_type").manifest.class_names
        report = ParityReport(attempts=[row["attempt_id"] for row in rows], fields_compared=0)
        for row, (_, decision) in zip(rows, decided):
            compared, found = _differences(row["attempt_id"], decision, row, type_names)
            report.fields_compared += compared
            report.differences += found
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)
    report.seconds = time.perf_counter() - began
    return report
