"""The online decline decision: one payment in flight -> P(decline), its likely type, an action.

A `DeclineDecider` is made once per process from a workspace. It opens the workspace's Feast
store, loads the promoted `issuer_decline` model and the type model its decision policy names
(`decline_type`) with the light runtime (`udfs`), and reads the FX seeds. Each `decide(payment)`
then

1. checks the request (`DeclineRequest.parse`: a `DecisionInputError` names the field and what
   was expected) and normalises it as the raw-data contract does (upper-case currency and
   issuer country, lower-case card network and card type);
2. reads feature service `issuer_decline_v1` from the online store, with each view's event
   timestamp (one Feast call);
3. computes the request-time features exactly as dbt does offline (`fct_authorizations`,
   `int_authorization_features`): the amount in US cents at the attempt's FX rate, the calendar
   parts (ISO day of week, Monday = 1), days to card expiry and the 0/1 encodings;
4. builds the model's feature row in manifest order (missing = NaN, as XGBoost reads it),
   scores both compiled forests directly (no SQL: a single row costs microseconds this way),
   and applies the manifest's decision policy with `udfs.decline_actions.DeclineActionPolicy`,
   the same parsed policy the SQL macro `decline_action_issuer_decline` is rendered from.

An entity the online store does not know is not an error: its view's features are missing and
the view is reported `found: false`. A view's row older than its TTL at the attempt's instant is
still used (the offline features, ASOF joins without a TTL, use it too) and its features are
listed in `stale_features`. Ages are measured from the request's `attempted_at`, not the wall
clock, so a replayed or simulated attempt is judged at its own instant; Feast returns event
timestamps in whole seconds, so ages are exact to one second.
"""

from __future__ import annotations

import csv
import math
import threading
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pyarrow as pa

from scoring.errors import ModelArtifactError, ScoringInputError
from scoring.feature_store import feature_store_settings, open_feature_store, resolve_feature_service
from scoring.workspace import DBT_PROJECT_DIR, Workspace
from udfs.decline_actions import DeclineActionPolicy
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

__all__ = [
    "DECLINE_MODEL",
    "FEATURE_SERVICE",
    "DecisionInputError",
    "DeclineDecider",
    "DeclineRequest",
    "FxRates",
    "OnlineFeatures",
    "REQUEST_TIME_FEATURES",
    "ONLINE_FEATURE_SOURCES",
    "round_half_away_from_zero",
]

DECLINE_MODEL = "issuer_decline"
FEATURE_SERVICE = "issuer_decline_v1"

#: Model inputs computed from the request itself (fct_authorizations, int_authorization_features).
REQUEST_TIME_FEATURES: tuple[str, ...] = (
    "usd_amount_minor", "hour_of_day", "day_of_week", "day_of_month", "days_to_card_expiry",
    "uses_3ds", "uses_network_token", "uses_retry", "uses_iso_format",
    "is_credit_card", "is_debit_card", "is_visa", "is_mastercard", "is_amex", "is_recurring", "is_subscription_renewal",
)

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

_TEXT_FIELDS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network",
    "issuer_country", "transaction_type", "card_type", "optimization", "currency_code",
)
_ENTITY_KEYS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network", "issuer_country", "transaction_type",
)
#: The raw-data contract's accepted transaction types (stg_raw__payment_attempts_validated).
TRANSACTION_TYPES: tuple[str, ...] = ("one_off", "recurring", "subscription_renewal")


class DecisionInputError(ScoringInputError):
    """A payment request the decider cannot score: `field` is the culprit, `expected` what it takes."""

    def __init__(self, field: str, expected: str, got: Any = None, *, present: bool = True):
        self.field = field
        self.expected = expected
        self.reason = f"expected {expected}, got {_describe(got)}" if present else f"missing; expected {expected}"
        super().__init__(f"payment field '{field}': {self.reason}")


def _describe(value: Any) -> str:
    """A short description of a bad value for error messages (type and a clipped repr)."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}" if value is not None else "null"


def round_half_away_from_zero(value: float) -> float:
    """DuckDB's `round(double)`: halves go away from zero (Python's `round` goes to even).

    >>> round_half_away_from_zero(2.5), round_half_away_from_zero(-2.5), round_half_away_from_zero(0.49999999999999994)
    (3.0, -3.0, 0.0)
    """
    magnitude = abs(value)
    whole = math.floor(magnitude)
    if magnitude - whole >= 0.5:  # exact: a double minus its floor is representable
        whole += 1
    return math.copysign(whole, value)


@dataclass(frozen=True)
class FxRates:
    """The FX seeds as dbt reads them: rates valid from a date (UTC midnight) until the next one.

    >>> rates = FxRates.from_seeds(DBT_PROJECT_DIR / "seeds")
    >>> rates.usd_minor(1999, "EUR", datetime(2025, 2, 3, 10, 0))
    2079
    >>> rates.usd_minor(1999, "JPY", datetime(2025, 2, 3, 10, 0))
    1279
    """

    exponents: dict[str, int]
    rates: dict[str, list[tuple[datetime, float]]]

    @classmethod
    def from_seeds(cls, seeds_dir: Path) -> "FxRates":
        """Read `fx_rates.csv` and `currencies.csv` (a currency without both is unknown)."""
        with open(seeds_dir / "currencies.csv", newline="") as handle:
            exponents = {row["currency_code"]: int(row["minor_unit_exponent"]) for row in csv.DictReader(handle)}
        rates: dict[str, list[tuple[datetime, float]]] = {}
        with open(seeds_dir / "fx_rates.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["currency_code"] in exponents:
                    valid_from = datetime.combine(date.fromisoformat(row["valid_from"]), datetime.min.time())
                    rates.setdefault(row["currency_code"], []).append((valid_from, float(row["usd_per_unit"])))
        return cls(exponents=exponents, rates={code: sorted(periods) for code, periods in rates.items()})

    @property
    def currencies(self) -> list[str]:
        """Currencies with a minor unit and at least one rate."""
        return sorted(self.rates)

    def usd_minor(self, amount_minor: int, currency_code: str, attempted_at: datetime) -> int | None:
        """`cast(round(amount / pow(10, exponent) * usd_per_unit * 100) as bigint)` at the rate
        valid at `attempted_at` (naive UTC); None before the currency's first rate (dbt: NULL)."""
        rate = None
        for valid_from, usd_per_unit in self.rates[currency_code]:
            if valid_from <= attempted_at:
                rate = usd_per_unit
            else:
                break
        if rate is None:
            return None
        usd = float(amount_minor) / math.pow(10.0, self.exponents[currency_code]) * rate * 100.0
        return int(round_half_away_from_zero(usd))


@dataclass(frozen=True)
class DeclineRequest:
    """A checked, normalised payment in flight (see `parse` for each field's rule)."""

    card_id: str
    card_bin: str
    merchant_category: str
    issuer_id: str
    gateway: str
    card_network: str
    issuer_country: str
    transaction_type: str
    card_type: str
    optimization: str
    amount_minor: int
    currency_code: str
    attempted_at: datetime
    card_expires_on: date | None
    other_approved_cards: int

    @classmethod
    def parse(cls, payment: Mapping[str, Any], currencies: list[str] | None = None) -> "DeclineRequest":
        """Check `payment` and normalise it like the raw-data contract; unknown keys are ignored.

        Text fields are non-empty strings; `amount_minor` a non-negative integer; `attempted_at`
        an ISO 8601 timestamp (an offset or `Z` is converted to UTC, none means UTC already);
        `card_expires_on` an ISO date or null (the raw contract allows an unknown expiry);
        `other_approved_cards` an optional non-negative integer (default 0, as dbt's coalesce).
        `currencies`, when given, are the accepted currency codes.

        >>> DeclineRequest.parse({"card_id": "c1"})
        Traceback (most recent call last):
        ...
        scoring.decline_decision.DecisionInputError: payment field 'card_bin': missing; expected a non-empty string
        """
        if not isinstance(payment, Mapping):
            raise DecisionInputError("(body)", "a JSON object with the payment's fields", payment)
        values: dict[str, Any] = {}
        for name in _TEXT_FIELDS:
            if name not in payment:
                raise DecisionInputError(name, "a non-empty string", present=False)
            value = payment[name]
            if not isinstance(value, str) or not value.strip():
                raise DecisionInputError(name, "a non-empty string", value)
            values[name] = value
        values["currency_code"] = values["currency_code"].upper()
        values["issuer_country"] = values["issuer_country"].upper()
        values["card_network"] = values["card_network"].lower()
        values["card_type"] = values["card_type"].lower()
        if values["transaction_type"] not in TRANSACTION_TYPES:
            raise DecisionInputError("transaction_type", f"one of {', '.join(TRANSACTION_TYPES)}", values["transaction_type"])
        if currencies is not None and values["currency_code"] not in currencies:
            raise DecisionInputError("currency_code", f"a known currency ({', '.join(currencies)})", payment["currency_code"])
        values["amount_minor"] = _integer(payment, "amount_minor", "a non-negative integer amount in the currency's minor units")
        values["attempted_at"] = _timestamp(payment)
        values["card_expires_on"] = _expiry(payment)
        if payment.get("other_approved_cards") is None:
            values["other_approved_cards"] = 0
        else:
            values["other_approved_cards"] = _integer(payment, "other_approved_cards", "a non-negative integer (or no value: 0)")
        return cls(**values)

    def entity_row(self) -> dict[str, str]:
        """The join keys of feature service issuer_decline_v1."""
        return {name: getattr(self, name) for name in _ENTITY_KEYS}


def _integer(payment: Mapping[str, Any], name: str, expected: str) -> int:
    if name not in payment:
        raise DecisionInputError(name, expected, present=False)
    value = payment[name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise DecisionInputError(name, expected, value)
    return int(value)


def _timestamp(payment: Mapping[str, Any]) -> datetime:
    expected = "an ISO 8601 timestamp, e.g. 2025-03-01T12:34:56Z"
    if "attempted_at" not in payment:
        raise DecisionInputError("attempted_at", expected, present=False)
    value = payment["attempted_at"]
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise DecisionInputError("attempted_at", expected, value) from None
    else:
        raise DecisionInputError("attempted_at", expected, value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _expiry(payment: Mapping[str, Any]) -> date | None:
    expected = "an ISO date (YYYY-MM-DD) or null"
    if "card_expires_on" not in payment:
        raise DecisionInputError("card_expires_on", expected, present=False)
    value = payment["card_expires_on"]
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise DecisionInputError("card_expires_on", expected, value)


def request_time_features(request: DeclineRequest, fx: FxRates) -> dict[str, float | None]:
    """The request-time model inputs, as fct_authorizations and int_authorization_features compute them."""
    at = request.attempted_at
    optimizations = f"+{request.optimization}+"
    return {
        "usd_amount_minor": fx.usd_minor(request.amount_minor, request.currency_code, at),
        "hour_of_day": at.hour,
        "day_of_week": at.isoweekday(),
        "day_of_month": at.day,
        "days_to_card_expiry": (request.card_expires_on - at.date()).days if request.card_expires_on is not None else None,
        "uses_3ds": int("+3ds+" in optimizations),
        "uses_network_token": int("+network_token+" in optimizations),
        "uses_retry": int("+retry+" in optimizations),
        "uses_iso_format": int("+iso_format+" in optimizations),
        "is_credit_card": int(request.card_type == "credit"),
        "is_debit_card": int(request.card_type == "debit"),
        "is_visa": int(request.card_network == "visa"),
        "is_mastercard": int(request.card_network == "mastercard"),
        "is_amex": int(request.card_network == "amex"),
        "is_recurring": int(request.transaction_type == "recurring"),
        "is_subscription_renewal": int(request.transaction_type == "subscription_renewal"),
    }


@dataclass
class OnlineFeatures:
    """One online read of the feature service: values by `<view>__<feature>` and per-view event times."""

    values: dict[str, Any]
    event_times: dict[str, datetime | None]


@dataclass(frozen=True)
class _ViewSpec:
    name: str
    ttl_seconds: float | None
    features: tuple[str, ...]


class DeclineDecider:
    """Decide on payments in flight with the workspace's promoted decline models (module docstring).

    Thread-safe: the compiled forests are pure functions; reads of a SQLite online store (one
    shared connection in Feast) are serialised by a lock, other online stores are not.
    """

    def __init__(self, workspace: Workspace, *, store: "FeatureStore | None" = None):
        self.workspace = workspace
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
        self.store = store if store is not None else open_feature_store(workspace)
        self._service: "FeatureService" = self._load_service()
        self._views = self._load_views()
        self._sources = self._feature_sources()
        self._lock = threading.Lock() if feature_store_settings(workspace)["online_store"].get("type") == "sqlite" else None

    @property
    def model_versions(self) -> dict[str, str]:
        """The loaded model versions by model name."""
        return {
            self.decline_artifact.manifest.name: self.decline_artifact.manifest.version,
            self.type_artifact.manifest.name: self.type_artifact.manifest.version,
        }

    @property
    def view_ttls(self) -> dict[str, float | None]:
        """TTL in seconds of each view of the feature service (None: no TTL)."""
        return {view.name: view.ttl_seconds for view in self._views}

    def _load_service(self) -> "FeatureService":
        service, _, _ = resolve_feature_service(self.store, FEATURE_SERVICE)
        return service

    def _load_views(self) -> list[_ViewSpec]:
        views = []
        for projection in self._service.feature_view_projections:
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

    def parse(self, payment: Mapping[str, Any]) -> DeclineRequest:
        """Check and normalise a payment (DecisionInputError on misuse)."""
        return DeclineRequest.parse(payment, self.fx.currencies)

    def fetch_online(self, request: DeclineRequest) -> OnlineFeatures:
        """Read feature service issuer_decline_v1 for the request's entities (one Feast call)."""
        rows = [request.entity_row()]
        if self._lock is not None:
            with self._lock:
                response = self.store.get_online_features(features=self._service, entity_rows=rows, full_feature_names=True)
        else:
            response = self.store.get_online_features(features=self._service, entity_rows=rows, full_feature_names=True)
        columns = response.to_dict(include_event_timestamps=True)
        values = {key: column[0] for key, column in columns.items() if not key.endswith("__ts")}
        event_times: dict[str, datetime | None] = {}
        for view in self._views:
            seconds = [columns.get(f"{view.name}__{feature}__ts", [0])[0] for feature in view.features]
            newest = max((second for second in seconds if second), default=0)
            event_times[view.name] = datetime.fromtimestamp(newest, tz=timezone.utc).replace(tzinfo=None) if newest else None
        return OnlineFeatures(values=values, event_times=event_times)

    def feature_row(self, request: DeclineRequest, online: OnlineFeatures) -> np.ndarray:
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
        # One float64 Arrow array of the row, sliced into one column per feature (zero-copy
        # views), built once for both forests; NaN stays a value, which the forests read as missing.
        values = pa.array(row, type=pa.float64())
        columns = [values.slice(index, 1) for index in range(len(row))]
        p_decline = float(self.decline_artifact.forest.predict(columns)[0, 0])
        types = self.type_artifact.forest.predict(columns)[0]
        return p_decline, {name: float(types[index]) for index, name in enumerate(self.type_classes)}

    def decide(self, payment: Mapping[str, Any]) -> dict[str, Any]:
        """The decision for one payment in flight (module docstring); JSON-ready.

        Raises DecisionInputError (a ScoringInputError) when the payment is malformed.
        """
        request = self.parse(payment)
        online = self.fetch_online(request)
        row = self.feature_row(request, online)
        p_decline, decline_type = self.score(row)
        features = {name: (None if math.isnan(value) else float(value)) for name, value in zip(self.feature_names, row)}
        action = self.policy.action(
            p_decline, decline_type, request.other_approved_cards, features.get("attempts_before"),
            features.get("decline_ratio_90d"), features.get("gateway_segment_approval_rate_1h"),
            features.get("gateway_segment_approval_rate_7d"),
        )
        freshness: dict[str, dict[str, Any]] = {}
        stale_views = set()
        for view in self._views:
            event_time = online.event_times[view.name]
            age = (request.attempted_at - event_time).total_seconds() if event_time is not None else None
            stale = age is not None and view.ttl_seconds is not None and age > view.ttl_seconds
            if stale:
                stale_views.add(view.name)
            freshness[view.name] = {
                "found": event_time is not None,
                "event_timestamp": event_time.isoformat() + "Z" if event_time is not None else None,
                "age_seconds": age,
                "ttl_seconds": view.ttl_seconds,
                "stale": stale,
            }
        return {
            "decline_probability": p_decline,
            "decline_type": decline_type,
            "recommended_action": action,
            "model_versions": self.model_versions,
            "feature_freshness": freshness,
            "missing_features": [name for name, value in features.items() if value is None],
            "stale_features": [name for name in self.feature_names if self._sources[name][0] in stale_views],
            "features_used": features,
        }


