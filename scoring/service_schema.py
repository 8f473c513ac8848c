"""The decision endpoint's request and answers as pydantic models, for the OpenAPI document.

The endpoint does not validate through these models: `PaymentRequest.parse` checks a payment
(its errors name the field and say what was expected, the contract of the 422 answer) and the
body is read with orjson. The models only describe the contract: `decline_openapi()` is the
route's `openapi_extra` (request body) and `DECLINE_RESPONSES` its documented answers. A test
requires `PaymentModel`'s fields to be exactly the fields `PaymentRequest.parse` reads, and a
real decision to validate as `DecisionModel`.

`PlainEndpointRoute` is a FastAPI route that FastAPI documents like any other but calls like a
Starlette route: its endpoint takes the `Request` and returns a `Response`, with no dependency
solving and no body parameter (FastAPI's documented way to customise a route is to override
`APIRoute.get_route_handler`). Figures of each choice: decision_service's docstring.

>>> sorted(PaymentModel.model_json_schema()["required"])[:3]
['amount_minor', 'attempted_at', 'card_bin']
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from scoring.payment_request import MAX_CANDIDATE_GATEWAYS, MAX_INTEGER

__all__ = ["DECLINE_RESPONSES", "DecisionModel", "ErrorModel", "PaymentModel", "PlainEndpointRoute", "decline_openapi"]

class PaymentModel(BaseModel):
    """A payment in flight (docs/decision_service.md, "Request"); unknown keys are ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "card_id": "card_0000455", "card_bin": "470817", "merchant_category": "5814", "issuer_id": "iss_us_02",
        "gateway": "gw_alpha", "card_network": "visa", "issuer_country": "US", "transaction_type": "one_off",
        "card_type": "credit", "optimization": "network_token+retry", "amount_minor": 20265, "currency_code": "MXN",
        "attempted_at": "2025-04-30T23:35:08Z", "card_expires_on": "2028-11-30", "other_approved_cards": 1,
    }]})

    card_id: str = Field(min_length=1, description="The card (an entity key of the online store).")
    card_bin: str = Field(min_length=1, description="The card's BIN.")
    merchant_category: str = Field(min_length=1, description="The merchant category code.")
    issuer_id: str = Field(min_length=1)
    gateway: str = Field(min_length=1, description="The gateway the payment is sent on.")
    card_network: str = Field(min_length=1, description="visa, mastercard, amex, ... (lower-cased).")
    issuer_country: str = Field(min_length=1, description="ISO country code (upper-cased).")
    transaction_type: Literal["one_off", "recurring", "subscription_renewal"]
    card_type: str = Field(min_length=1, description="credit, debit, ... (lower-cased).")
    optimization: str = Field(min_length=1, description="`none` or optimisations joined by `+` (`3ds+network_token`).")
    amount_minor: int = Field(ge=0, le=MAX_INTEGER, description="The amount in the currency's minor units.")
    currency_code: str = Field(min_length=1, description="A currency of the FX seeds (upper-cased).")
    attempted_at: str = Field(description="ISO 8601 timestamp; an offset or Z is converted to UTC, none means UTC. "
                                          "The UTC instant must lie in years 1-9999.")
    card_expires_on: str | None = Field(description="ISO date, or null: expiry unknown (feature missing).")
    other_approved_cards: int | None = Field(default=0, ge=0, le=MAX_INTEGER,
                                             description="The customer's other cards approved before (default 0).")
    candidate_gateways: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_CANDIDATE_GATEWAYS,
        description="Distinct gateways the payment may go to (default: every known gateway).")
    customer_id: str | None = Field(default=None, min_length=1,
                                    description="The payer's customer: the answer then carries next_best_offer.")
    decision_id: str | None = Field(default=None, min_length=1,
                                    description="Names the decision; the bandit's draw is seeded by it (default: a new id).")
    card_present: bool | None = Field(default=False, description="Card present (default false: card not present).")


class GatewayRankModel(BaseModel):
    """One candidate gateway and its P(approve)."""

    gateway: str
    approval_probability: float
    segment_found: bool


class DecisionModel(BaseModel):
    """The decision for one payment (docs/decision_service.md, "Response")."""

    decline_probability: float = Field(description="P(decline) of the issuer_decline model.")
    decline_type: dict[str, float] = Field(description="P(type | declined) per decline type.")
    recommended_action: Literal["proceed", "step_up_authentication", "offer_other_instrument", "stand_in_approval"]
    gateway_ranking: list[GatewayRankModel] = Field(description="Candidate gateways by P(approve), best first.")
    model_versions: dict[str, str]
    feature_freshness: dict[str, dict[str, Any]] = Field(description="Per feature view: found, event_timestamp, "
                                                                     "age_seconds, ttl_seconds, stale, newer_than_attempt.")
    missing_features: list[str]
    stale_features: list[str]
    features_used: dict[str, float | None] = Field(description="Every model input as the models saw it (null = missing).")
    optimization: dict[str, Any] | None = Field(description="The optimisation bandit's choice (null without an oracle).")
    next_best_offer: dict[str, Any] | None = Field(description="The customer's next-best offer (null without customer_id).")


class ErrorModel(BaseModel):
    """Every error answer of the service."""

    error: str = Field(description="malformed_json, invalid_payment, body_too_large, unauthorized, "
                                   "online_store_unavailable or internal_error.")
    field: str | None = Field(description="The culprit field (`(body)` for the whole body), or null.")
    reason: str = Field(description="What was expected, what came, and what to do.")


#: The decision endpoint's documented answers.
DECLINE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DecisionModel, "description": "The decision."},
    400: {"model": ErrorModel, "description": "`malformed_json`: the body is not JSON."},
    401: {"model": ErrorModel, "description": "`unauthorized`: send `Authorization: Bearer <token>`."},
    413: {"model": ErrorModel, "description": "`body_too_large`: the body is over the service's limit."},
    422: {"model": ErrorModel, "description": "`invalid_payment`: `field` is missing or wrong; `reason` says what was expected."},
    503: {"model": ErrorModel, "description": "`online_store_unavailable`: the online store cannot be read now."},
}


def decline_openapi() -> dict[str, Any]:
    """The decision route's `openapi_extra`: its request body, described by PaymentModel."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": PaymentModel.model_json_schema()}}}}


class PlainEndpointRoute(APIRoute):
    """Documented by FastAPI, called like a Starlette route: `endpoint(request) -> Response` (module docstring)."""

    def get_route_handler(self) -> Callable:
        return self.endpoint
