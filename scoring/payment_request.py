"""A payment in flight, checked and normalised, and the model inputs it carries itself.

`PaymentRequest.parse` checks a payment sent by a payment service (a `DecisionInputError` names
the field and what was expected) and normalises it as the raw-data contract does (upper-case
currency and issuer country, lower-case card network and card type).
`request_time_features` computes the model inputs that come from the request, exactly as dbt
computes them offline (`fct_authorizations`, `int_authorization_features`): the amount in US
cents at the attempt's FX rate (`FxRates`, from the dbt seeds), the calendar parts (ISO day of
week, Monday = 1), days to card expiry and the 0/1 encodings.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from scoring.errors import ScoringInputError
from scoring.workspace import DBT_PROJECT_DIR

__all__ = [
    "DecisionInputError",
    "FxRates",
    "MAX_CANDIDATE_GATEWAYS",
    "MAX_INTEGER",
    "PaymentRequest",
    "REQUEST_TIME_FEATURES",
    "TRANSACTION_TYPES",
    "request_time_features",
    "round_half_away_from_zero",
]

#: Model inputs computed from the request itself (fct_authorizations, int_authorization_features).
REQUEST_TIME_FEATURES: tuple[str, ...] = (
    "usd_amount_minor", "hour_of_day", "day_of_week", "day_of_month", "days_to_card_expiry",
    "uses_3ds", "uses_network_token", "uses_retry", "uses_iso_format",
    "is_credit_card", "is_debit_card", "is_visa", "is_mastercard", "is_amex", "is_recurring", "is_subscription_renewal",
)

_TEXT_FIELDS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network",
    "issuer_country", "transaction_type", "card_type", "optimization", "currency_code",
)
_ENTITY_KEYS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network", "issuer_country", "transaction_type",
)
#: The raw-data contract's accepted transaction types (stg_raw__payment_attempts_validated).
TRANSACTION_TYPES: tuple[str, ...] = ("one_off", "recurring", "subscription_renewal")
#: The largest integer a payment field takes: the raw contract's BIGINT (amounts, counts).
MAX_INTEGER = 2**63 - 1
#: The most candidate gateways one payment may name (a ranking reads one online row per gateway).
MAX_CANDIDATE_GATEWAYS = 64


class DecisionInputError(ScoringInputError):
    """A payment request the decider cannot score: `field` is the culprit, `expected` what it takes."""

    def __init__(self, field: str, expected: str, got: Any = None, *, present: bool = True, got_text: str | None = None):
        self.field = field
        self.expected = expected
        got_text = got_text if got_text is not None else _describe(got)
        self.reason = f"expected {expected}, got {got_text}" if present else f"missing; expected {expected}"
        super().__init__(f"payment field '{field}': {self.reason}")

    def within(self, prefix: str) -> "DecisionInputError":
        """The same error for a payment inside a larger body: field `<prefix>.<field>`.

        >>> DecisionInputError("amount_minor", "an integer", "ten").within("payments[2]").field
        'payments[2].amount_minor'
        """
        error = DecisionInputError(f"{prefix}.{self.field}", self.expected)
        error.reason = self.reason
        error.args = (f"payment field '{error.field}': {self.reason}",)
        return error


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
class PaymentRequest:
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
    candidate_gateways: tuple[str, ...] | None = None
    customer_id: str | None = None
    decision_id: str | None = None
    card_present: bool = False

    @classmethod
    def parse(cls, payment: Mapping[str, Any], currencies: list[str] | None = None) -> "PaymentRequest":
        """Check `payment` and normalise it like the raw-data contract; unknown keys are ignored.

        Text fields are non-empty strings; `amount_minor` a non-negative integer (at most
        `MAX_INTEGER`, the raw contract's BIGINT); `attempted_at` an ISO 8601 timestamp (an offset
        or `Z` is converted to UTC, none means UTC already; the UTC instant must lie in years 1-9999);
        `card_expires_on` an ISO date or null (the raw contract allows an unknown expiry);
        `other_approved_cards` an optional non-negative integer (default 0, as dbt's coalesce).
        `candidate_gateways`, optional, the gateways the payment may be routed to (distinct
        non-empty strings, at most `MAX_CANDIDATE_GATEWAYS`; absent or null: every gateway the
        decider knows).
        `customer_id`, optional, the payer's customer (a non-empty string): the decision then
        also carries the customer's next-best offer.
        `decision_id`, optional, a non-empty string naming this decision (the optimisation
        bandit's draw is seeded by it, so the same id gets the same choice; default: a new one).
        `card_present`, optional boolean (default false: a card-not-present payment, where 3DS
        can apply).
        `currencies`, when given, are the accepted currency codes.

        >>> PaymentRequest.parse({"card_id": "c1"})
        Traceback (most recent call last):
        ...
        scoring.payment_request.DecisionInputError: payment field 'card_bin': missing; expected a non-empty string
        >>> valid = {name: "x" for name in _TEXT_FIELDS} | {"transaction_type": "one_off", "amount_minor": 1,
        ...          "card_expires_on": None}
        >>> PaymentRequest.parse({**valid, "attempted_at": "0001-01-01T00:00:00+01:00"})
        Traceback (most recent call last):
        ...
        scoring.payment_request.DecisionInputError: payment field 'attempted_at': expected an ISO 8601 timestamp whose UTC instant lies in years 1-9999, e.g. 2025-03-01T12:34:56Z, got str '0001-01-01T00:00:00+01:00'
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
        values["candidate_gateways"] = _gateways(payment)
        customer_id = payment.get("customer_id")
        if customer_id is not None and (not isinstance(customer_id, str) or not customer_id.strip()):
            raise DecisionInputError("customer_id", "a non-empty string (or no value: no offer)", customer_id)
        values["customer_id"] = customer_id
        decision_id = payment.get("decision_id")
        if decision_id is not None and (not isinstance(decision_id, str) or not decision_id.strip()):
            raise DecisionInputError("decision_id", "a non-empty string (or no value: a new id)", decision_id)
        values["decision_id"] = decision_id
        card_present = payment.get("card_present", False)
        if card_present is None:
            card_present = False
        if not isinstance(card_present, bool):
            raise DecisionInputError("card_present", "true or false (or no value: false, card not present)", card_present)
        values["card_present"] = card_present
        return cls(**values)

    def entity_row(self) -> dict[str, str]:
        """The join keys of feature service issuer_decline_v1."""
        return {name: getattr(self, name) for name in _ENTITY_KEYS}


def _gateways(payment: Mapping[str, Any]) -> tuple[str, ...] | None:
    value = payment.get("candidate_gateways")
    if value is None:
        return None
    expected = (f"a non-empty list of at most {MAX_CANDIDATE_GATEWAYS} distinct gateway names "
                "(or no value: every known gateway)")
    if not isinstance(value, (list, tuple)) or not value or any(not isinstance(item, str) or not item.strip() for item in value):
        raise DecisionInputError("candidate_gateways", expected, value)
    if len(value) > MAX_CANDIDATE_GATEWAYS:
        raise DecisionInputError("candidate_gateways", expected, got_text=f"a list of {len(value)} gateways")
    if len(set(value)) != len(value):
        raise DecisionInputError("candidate_gateways", expected, value)
    return tuple(value)


def _integer(payment: Mapping[str, Any], name: str, expected: str) -> int:
    if name not in payment:
        raise DecisionInputError(name, expected, present=False)
    value = payment[name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise DecisionInputError(name, expected, value)
    if value > MAX_INTEGER:
        raise DecisionInputError(name, f"{expected}, at most {MAX_INTEGER} (a BIGINT)", value)
    return int(value)


def _timestamp(payment: Mapping[str, Any]) -> datetime:
    expected = "an ISO 8601 timestamp, e.g. 2025-03-01T12:34:56Z"
    in_range = "an ISO 8601 timestamp whose UTC instant lies in years 1-9999, e.g. 2025-03-01T12:34:56Z"
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
        try:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00: outside datetime's range in UTC
            raise DecisionInputError("attempted_at", in_range, value) from None
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


def request_time_features(request: PaymentRequest, fx: FxRates) -> dict[str, float | None]:
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
