"""The online decline decision: one payment in flight -> P(decline), its likely type, an action,
and the candidate gateways ranked by P(approve).

A `DeclineDecider` is made once per process from a workspace. It opens the workspace's Feast
store and a `ServiceReader` on feature service `issuer_decline_v1`, loads the promoted
`issuer_decline` model and the type model its decision policy names (`decline_type`) with the
light runtime (`udfs`), and reads the FX seeds and the known gateways. Each `decide(payment)` then

1. checks and normalises the request (`scoring.payment_request.PaymentRequest.parse`: a
   `DecisionInputError` names the field and what was expected);
2. reads the feature service's views from the online store (`scoring.online_reads`: Feast's
   own `online_read` per view, with each view's event timestamp);
3. computes the request-time features exactly as dbt does offline;
4. builds the model's feature row in manifest order (missing = NaN, as XGBoost reads it),
   scores both compiled forests directly (no SQL: a single row costs microseconds this way),
   and applies the manifest's decision policy with `udfs.decline_actions.DeclineActionPolicy`,
   the same parsed policy the SQL macro `decline_action_issuer_decline` is rendered from;
5. ranks the candidate gateways (the request's `candidate_gateways`, or every gateway of the
   offline gateway-segment features) by P(approve) = 1 - P(decline) of the same model with
   each gateway's segment features read online in its place: a counterfactual reading of the
   decline model, which inherits the routing bias of the logged data (the IPW routing model
   of `scoring.ipw_routing`, docs/routing_and_bandit.md, corrects for it).

An entity the online store does not know is not an error: its view's features are missing and
the view is reported `found: false`. A view's row older than its TTL at the attempt's instant is
still used (the offline features, ASOF joins without a TTL, use it too) and its features are
listed in `stale_features`. Ages are measured from the request's `attempted_at`, not the wall
clock, so a replayed or simulated attempt is judged at its own instant.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import duckdb
import numpy as np

from scoring.action_health import ActionHealth, published_factors_path, read_published_factors
from scoring.bandit_decisions import BanditDecision, OptimizationBandit
from scoring.bandit_policy import BanditPolicy
from scoring.decision_log import Decision
from scoring.decision_spool import DecisionSpool
from scoring.errors import ModelArtifactError
from scoring.feature_store import open_feature_store
from scoring.online_reads import OnlineRead, ServiceReader, view_freshness
from scoring.next_best_offer import OnlineOfferDecider, cross_sell_models_registered
from scoring.optimization_oracle_job import OPTIMIZATION_ORACLE
from scoring.payment_request import REQUEST_TIME_FEATURES, DecisionInputError, FxRates, PaymentRequest, request_time_features
from scoring.workspace import DBT_PROJECT_DIR, Workspace
from udfs.decline_actions import DeclineActionPolicy
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = [
    "CARD_VIEW",
    "DECLINE_MODEL",
    "FEATURE_SERVICE",
    "GATEWAY_VIEW",
    "DeclineDecider",
    "ONLINE_FEATURE_SOURCES",
]

DECLINE_MODEL = "issuer_decline"
FEATURE_SERVICE = "issuer_decline_v1"

#: Model inputs read online under another name: int_authorization_features renames segment columns.
ONLINE_FEATURE_SOURCES: dict[str, str] = {
    "bin_merchant_category_attempts_30d": "bin_merchant_category_activity__attempts_30d",
    "bin_merchant_category_approval_rate_30d": "bin_merchant_category_activity__smoothed_approval_rate_30d",
    "issuer_merchant_category_attempts_30d": "issuer_merchant_category_activity__attempts_30d",
    "issuer_merchant_category_approval_rate_30d": "issuer_merchant_category_activity__smoothed_approval_rate_30d",
    "gateway_segment_approval_rate_1h": "gateway_segment_activity__approval_rate_1h",
    "gateway_segment_approval_rate_24h": "gateway_segment_activity__approval_rate_24h",
    "gateway_segment_approval_rate_7d": "gateway_segment_activity__approval_rate_7d",
}
#: The view whose remaining features keep their names (`card_features.* exclude (...)` in dbt).
CARD_VIEW = "card_activity"
#: The view keyed by gateway: read once per candidate gateway for the ranking.
GATEWAY_VIEW = "gateway_segment_activity"


@dataclass(frozen=True)
class _ViewSpec:
    name: str
    ttl_seconds: float | None
    features: tuple[str, ...]


def known_gateways(workspace: Workspace) -> tuple[str, ...]:
    """The gateways of the workspace's offline gateway-segment features (empty before a build)."""
    path = workspace.features_dir / "gateway_segment_features.parquet"
    if not path.is_file():
        return ()
    with duckdb.connect() as connection:
        rows = connection.execute("select distinct gateway from read_parquet(?) order by gateway", [str(path)]).fetchall()
    return tuple(row[0] for row in rows)


class DeclineDecider:
    """Decide on payments in flight with the workspace's promoted decline models (module docstring).

    Thread-safe: the compiled forests are pure functions and the online reads lock where the
    store needs it (`scoring.online_reads`).
    """

    def __init__(self, workspace: Workspace, *, store: "FeatureStore | None" = None, spool: DecisionSpool | None = None,
                 bandit_policy: BanditPolicy | None = None):
        self.workspace = workspace
        #: Where the optimisation decisions are logged (None: not logged; the HTTP service logs them).
        self.spool = spool
        registry = ModelRegistry(workspace.model_registry)
        self.decline_artifact: ModelArtifact = registry.load(DECLINE_MODEL)
        manifest = self.decline_artifact.manifest
        raw_policy = manifest.details.get("decision_policy")
        if not raw_policy:
            raise ModelArtifactError(f"model {DECLINE_MODEL} {manifest.version} has no decision_policy; retrain it with payloom train")
        self.policy = DeclineActionPolicy.from_policy(DECLINE_MODEL, raw_policy)
        type_model = raw_policy.get("type_model", "decline_type")
        self.type_artifact: ModelArtifact = registry.load(type_model)
        if self.type_artifact.manifest.feature_names != manifest.feature_names:
            raise ModelArtifactError(
                f"{type_model} {self.type_artifact.manifest.version} and {DECLINE_MODEL} {manifest.version} take different "
                "features; publish both from one training run"
            )
        self.type_classes: list[str] = self.type_artifact.manifest.class_names
        self.feature_names: list[str] = manifest.feature_names
        self.fx = FxRates.from_seeds(DBT_PROJECT_DIR / "seeds")
        self.gateways: tuple[str, ...] = known_gateways(workspace)
        self.store = store if store is not None else open_feature_store(workspace)
        self.reader = ServiceReader(self.store, FEATURE_SERVICE)
        self._views = self._load_views()
        self._sources = self._feature_sources()
        self._gateway_columns = [index for index, name in enumerate(self.feature_names) if self._sources[name][0] == GATEWAY_VIEW]
        self.bandit, self._oracle_columns = self._load_bandit(registry, bandit_policy or BanditPolicy())
        self._health_stamp: tuple[int, int] | None = None
        # The next-best offer for a request naming its customer (None: no cross-sell models yet).
        self.offers: OnlineOfferDecider | None = (
            OnlineOfferDecider(workspace, store=self.store) if cross_sell_models_registered(workspace) else None
        )

    @property
    def model_versions(self) -> dict[str, str]:
        """The loaded model versions by model name."""
        return {
            self.decline_artifact.manifest.name: self.decline_artifact.manifest.version,
            self.type_artifact.manifest.name: self.type_artifact.manifest.version,
        }

    def _load_bandit(self, registry: ModelRegistry, policy: BanditPolicy) -> tuple[OptimizationBandit | None, list[int]]:
        """The optimisation bandit on the registered oracle (None without one), and where its
        context features sit in the decline model's feature row."""
        if OPTIMIZATION_ORACLE not in registry.names():
            return None, []
        bandit = OptimizationBandit(registry.load(OPTIMIZATION_ORACLE), policy, health=ActionHealth())
        missing = [name for name in bandit.context_features if name not in self.feature_names]
        if missing:
            raise ModelArtifactError(
                f"{OPTIMIZATION_ORACLE} {bandit.policy_version} takes context features the decline model does not: "
                f"{', '.join(missing)}; retrain both with `payloom train`"
            )
        return bandit, [self.feature_names.index(name) for name in bandit.context_features]

    @property
    def view_ttls(self) -> dict[str, float | None]:
        """TTL in seconds of each view of the feature service (None: no TTL)."""
        return {view.name: view.ttl_seconds for view in self._views}

    def _load_views(self) -> list[_ViewSpec]:
        service = self.store.get_feature_service(FEATURE_SERVICE)
        views = []
        for projection in service.feature_view_projections:
            view = self.store.get_feature_view(projection.name)
            views.append(
                _ViewSpec(
                    name=projection.name_to_use(),
                    ttl_seconds=view.ttl.total_seconds() if view.ttl else None,
                    features=tuple(feature.name for feature in projection.features),
                )
            )
        return views

    def _feature_sources(self) -> dict[str, tuple[str | None, str | None]]:
        """model feature -> (view, online key), or (None, None) for a request-time feature."""
        online = {f"{view.name}__{feature}": view.name for view in self._views for feature in view.features}
        card = next((view for view in self._views if view.name == CARD_VIEW), None)
        sources: dict[str, tuple[str | None, str | None]] = {}
        unknown = []
        for name in self.feature_names:
            if name in REQUEST_TIME_FEATURES:
                sources[name] = (None, None)
                continue
            key = ONLINE_FEATURE_SOURCES.get(name) or (f"{CARD_VIEW}__{name}" if card is not None else None)
            if key is None or key not in online:
                unknown.append(name)
            else:
                sources[name] = (online[key], key)
        if unknown:
            raise ModelArtifactError(
                f"model {DECLINE_MODEL} {self.decline_artifact.manifest.version} takes features that are neither "
                f"request-time nor in feature service {FEATURE_SERVICE}: {', '.join(unknown)}"
            )
        return sources

    def parse(self, payment: Mapping[str, Any]) -> PaymentRequest:
        """Check and normalise a payment (DecisionInputError on misuse)."""
        return PaymentRequest.parse(payment, self.fx.currencies)

    def fetch_online(self, request: PaymentRequest) -> OnlineRead:
        """Read feature service issuer_decline_v1 for the request's entities."""
        return self.reader.read(request.entity_row())

    def feature_row(self, request: PaymentRequest, online: OnlineRead) -> np.ndarray:
        """The model's input row (float64, manifest order, NaN = missing)."""
        request_features = request_time_features(request, self.fx)
        row = np.empty(len(self.feature_names), dtype=np.float64)
        for index, name in enumerate(self.feature_names):
            view, key = self._sources[name]
            value = request_features[name] if view is None else (online.values.get(key) if online.event_times[view] else None)
            row[index] = math.nan if value is None else float(value)
        return row

    def score(self, row: np.ndarray) -> tuple[float, dict[str, float]]:
        """P(decline) and P(type | declined) of one feature row, from the compiled libraries."""
        matrix = row.reshape(1, -1)
        p_decline = float(self.decline_artifact.forest.predict_matrix(matrix)[0, 0])
        types = self.type_artifact.forest.predict_matrix(matrix)[0]
        return p_decline, {name: float(types[index]) for index, name in enumerate(self.type_classes)}

    def other_gateways(self, request: PaymentRequest) -> list[str]:
        """The candidate gateways other than the request's own."""
        candidates = request.candidate_gateways or self.gateways or (request.gateway,)
        return [gateway for gateway in candidates if gateway != request.gateway]

    def _gateway_row(self, base: np.ndarray, read: OnlineRead) -> np.ndarray:
        """`base` with the gateway-segment features of `read` in place of its own."""
        row = base.copy()
        found = read.event_times[GATEWAY_VIEW] is not None
        for index in self._gateway_columns:
            value = read.values.get(self._sources[self.feature_names[index]][1]) if found else None
            row[index] = math.nan if value is None else float(value)
        return row

    def decide(self, payment: Mapping[str, Any]) -> dict[str, Any]:
        """The decision for one payment in flight (module docstring); JSON-ready.

        Raises DecisionInputError (a ScoringInputError) when the payment is malformed.
        """
        return self._decide([self.parse(payment)])[0]

    def decide_many(self, payments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The decisions for several payments, in order, with one online read and one scoring
        call per model; the same answers as `decide` on each.

        Raises DecisionInputError naming the payment (`payments[i].<field>`) when one is malformed.
        """
        requests = []
        for position, payment in enumerate(payments):
            try:
                requests.append(self.parse(payment))
            except DecisionInputError as error:
                raise error.within(f"payments[{position}]") from error
        return self._decide(requests) if requests else []

    def _decide(self, requests: list[PaymentRequest]) -> list[dict[str, Any]]:
        others = [self.other_gateways(request) for request in requests]
        reads = self.reader.read_requests([
            (entity_row, views)
            for request, request_others in zip(requests, others)
            for entity_row, views in [(request.entity_row(), None)]
            + [({**request.entity_row(), "gateway": gateway}, [GATEWAY_VIEW]) for gateway in request_others]
        ])
        base_rows, all_rows, onlines, gateway_reads = [], [], [], []
        position = 0
        for request, request_others in zip(requests, others):
            online = reads[position]
            alternatives = reads[position + 1: position + 1 + len(request_others)]
            position += 1 + len(request_others)
            base = self.feature_row(request, online)
            base_rows.append(base)
            all_rows += [base, *(self._gateway_row(base, read) for read in alternatives)]
            onlines.append(online)
            gateway_reads.append(alternatives)
        p_all = self.decline_artifact.forest.predict_matrix(np.vstack(all_rows))[:, 0]
        p_types = self.type_artifact.forest.predict_matrix(np.vstack(base_rows))
        decisions = []
        position = 0
        for index, request in enumerate(requests):
            count = 1 + len(others[index])
            p_request = p_all[position: position + count]
            position += count
            decision_types = {name: float(p_types[index, column]) for column, name in enumerate(self.type_classes)}
            decisions.append(self._decision(request, onlines[index], base_rows[index], p_request, decision_types,
                                            others[index], gateway_reads[index]))
        for decision, offer, optimization in zip(decisions, self._offers(requests), self._optimizations(requests, base_rows)):
            decision["optimization"] = optimization
            decision["next_best_offer"] = offer
        return decisions

    def _log_row(self, request: PaymentRequest, decision: BanditDecision) -> dict[str, Any]:
        """The decision-log row (decision_log.DECISION_SCHEMA) of one bandit decision."""
        assert self.bandit is not None
        return Decision(
            decision_id=decision.decision_id, policy_name=self.bandit.policy_name, policy_version=self.bandit.policy_version,
            context_key=f"{request.card_id}@{request.attempted_at.isoformat()}", decided_at=request.attempted_at,
            candidates=decision.candidates, chosen_action=decision.chosen_action, propensity=decision.propensity,
            card_id=request.card_id, customer_id=request.customer_id,
        ).row()

    def refresh_health(self) -> dict[str, float]:
        """The bandit's action-health factors from `<workspace>/action_health/optimization_bandit.json`
        (`scoring.action_health.publish_factors`, written by `payloom load-decisions`), re-read when
        the file changes; no file: every factor 1. Called before every batch of decisions (a stat)."""
        if self.bandit is None:
            return {}
        path = published_factors_path(self.workspace.root, self.bandit.policy_name)
        try:
            status = path.stat()
            stamp = (status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._health_stamp:
            self.bandit.apply_health(None, read_published_factors(path) if stamp is not None else {})
            self._health_stamp = stamp
        return self.bandit.health_factors

    def _optimizations(self, requests: list[PaymentRequest], rows: list[np.ndarray]) -> list[dict[str, Any] | None]:
        """Per request: the optimisation bandit's choice (None without an oracle), logged to the spool."""
        if self.bandit is None:
            return [None] * len(requests)
        self.refresh_health()
        ids = [request.decision_id or uuid.uuid4().hex for request in requests]
        keys = [(request.card_network, not request.card_present) for request in requests]
        eligible = [index for index, key in enumerate(keys) if self.bandit.has_rules(key)]
        chosen: dict[int, BanditDecision] = {}
        if eligible:
            context = np.vstack([rows[index] for index in eligible])[:, self._oracle_columns]
            chosen = dict(zip(eligible, self.bandit.decide_matrix([ids[i] for i in eligible], [keys[i] for i in eligible], context)))
        answers: list[dict[str, Any] | None] = []
        logged = []
        for index, request in enumerate(requests):
            answer: dict[str, Any] = {"decision_id": ids[index], "policy_name": self.bandit.policy_name,
                                      "policy_version": self.bandit.policy_version, "requested_optimization": request.optimization}
            decision = chosen.get(index)
            if decision is None:
                answers.append({**answer, "chosen_action": None, "propensity": None, "candidates": [], "reason": (
                    f"no optimisation is eligible for card network {request.card_network!r} "
                    f"({'card present' if request.card_present else 'card not present'}); the eligibility rules cover "
                    f"{', '.join(sorted({key[0] for key in self.bandit.rule_keys()}))}")})
                continue
            answers.append({**answer, "chosen_action": decision.chosen_action, "propensity": decision.propensity,
                            "candidates": [{"action": c.action, "probability": c.probability, "predicted_approval": c.predicted_reward}
                                           for c in decision.candidates]})
            if self.spool is not None:
                logged.append(self._log_row(request, decision))
        if self.spool is not None and logged:
            self.spool.add_rows(logged)
        return answers

    def _offers(self, requests: list[PaymentRequest]) -> list[dict[str, Any] | None]:
        """Per request: its customer's next-best offer, or None when it names no customer."""
        named = [request for request in requests if request.customer_id is not None]
        if not named:
            return [None] * len(requests)
        if self.offers is None:
            unavailable = {"found": False, "product": None, "reason": (
                "no cross-sell models are registered in this workspace: train them with `payloom run`, then restart")}
            return [{"customer_id": request.customer_id, **unavailable} if request.customer_id is not None else None
                    for request in requests]
        answers = iter(self.offers.offer_many([request.customer_id for request in named],  # type: ignore[misc]
                                              [request.attempted_at for request in named]))
        return [next(answers) if request.customer_id is not None else None for request in requests]

    def _decision(
        self, request: PaymentRequest, online: OnlineRead, row: np.ndarray, p_decline: np.ndarray,
        decline_type: dict[str, float], others: list[str], gateway_reads: list[OnlineRead],
    ) -> dict[str, Any]:
        """One JSON-ready decision from its feature row and scores (p_decline[0]: the request's
        gateway, then one per other gateway)."""
        features = {name: (None if math.isnan(value) else float(value)) for name, value in zip(self.feature_names, row)}
        probability = float(p_decline[0])
        action = self.policy.action(
            probability, decline_type, request.other_approved_cards, features.get("attempts_before"),
            features.get("decline_ratio_90d"), features.get("gateway_segment_approval_rate_1h"),
            features.get("gateway_segment_approval_rate_7d"),
        )
        freshness = {view.name: view_freshness(online.event_times[view.name], request.attempted_at, view.ttl_seconds)
                     for view in self._views}
        stale_views = {name for name, entry in freshness.items() if entry["stale"]}
        candidates = request.candidate_gateways or self.gateways or (request.gateway,)
        ranking = []
        if request.gateway in candidates:
            ranking.append({"gateway": request.gateway, "approval_probability": 1.0 - probability,
                            "segment_found": online.event_times[GATEWAY_VIEW] is not None})
        for gateway, read, p_other in zip(others, gateway_reads, p_decline[1:]):
            ranking.append({"gateway": gateway, "approval_probability": 1.0 - float(p_other),
                            "segment_found": read.event_times[GATEWAY_VIEW] is not None})
        ranking.sort(key=lambda entry: (-entry["approval_probability"], entry["gateway"]))
        return {
            "decline_probability": probability,
            "decline_type": decline_type,
            "recommended_action": action,
            "gateway_ranking": ranking,
            "model_versions": self.model_versions,
            "feature_freshness": freshness,
            "missing_features": [name for name, value in features.items() if value is None],
            "stale_features": [name for name in self.feature_names if self._sources[name][0] in stale_views],
            "features_used": features,
        }
