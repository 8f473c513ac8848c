"""The decision service over real HTTP: uvicorn on a loopback port, requests as the client."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from decision_support import SERVICE_TOKEN, ServerThread

from scoring.decision_service import DECLINE_PATH, HEALTH_PATH, METRICS_PATH, READY_PATH, create_app
from scoring.payment_request import PaymentRequest
from scoring.service_schema import DecisionModel, PaymentModel

AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


def test_decision_over_http_equals_in_process(served, server, http):
    case = served.cases[-1]
    response = http.post(server.url + DECLINE_PATH, json=case.payment, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["recommended_action"] == case.decision["recommended_action"]
    assert decision["decline_probability"] == case.decision["decline_probability"]
    assert decision["decline_type"] == case.decision["decline_type"]
    assert decision["features_used"] == case.decision["features_used"]
    assert decision["model_versions"] == {"issuer_decline": "v0001", "decline_type": "v0001"}
    assert set(decision) >= {"feature_freshness", "missing_features", "stale_features"}


def test_malformed_json_is_400_with_the_reason(server, http):
    response = http.post(server.url + DECLINE_PATH, data=b'{"card_id": "c1", ', headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed_json" and body["field"] == "(body)" and "not valid JSON" in body["reason"]


def test_wrong_type_is_422_naming_the_field(served, server, http):
    payment = {**served.cases[-1].payment, "amount_minor": "12.50"}
    response = http.post(server.url + DECLINE_PATH, data=json.dumps(payment), headers=AUTH, timeout=30)
    assert response.status_code == 422
    body = response.json()
    assert body == {"error": "invalid_payment", "field": "amount_minor", "reason": body["reason"]}
    assert "non-negative integer" in body["reason"] and "'12.50'" in body["reason"]


def test_customer_id_over_http(served, server, http):
    """A bad customer_id is a 422 naming it; a good one on a workspace without cross-sell models
    gets a decision whose next_best_offer says why there is no offer (never a 500)."""
    payment = {**served.cases[-1].payment, "customer_id": 42}
    response = http.post(server.url + DECLINE_PATH, json=payment, headers=AUTH, timeout=30)
    assert response.status_code == 422 and response.json()["field"] == "customer_id"
    response = http.post(server.url + DECLINE_PATH, json={**payment, "customer_id": "cust_x"}, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    offer = response.json()["next_best_offer"]
    assert offer["customer_id"] == "cust_x" and offer["found"] is False and offer["product"] is None
    assert "payloom run" in offer["reason"]
    assert response.json()["decline_probability"] == served.cases[-1].decision["decline_probability"]
    assert served.cases[-1].decision["next_best_offer"] is None


def test_missing_field_and_non_object_are_422(served, server, http):
    payment = {key: value for key, value in served.cases[-1].payment.items() if key != "attempted_at"}
    response = http.post(server.url + DECLINE_PATH, json=payment, headers=AUTH, timeout=30)
    assert response.status_code == 422 and response.json()["field"] == "attempted_at"
    response = http.post(server.url + DECLINE_PATH, json=[1, 2], headers=AUTH, timeout=30)
    assert response.status_code == 422 and response.json()["field"] == "(body)"


def test_token_required_when_configured(served, server, http):
    payment = served.cases[-1].payment
    missing = http.post(server.url + DECLINE_PATH, json=payment, timeout=30)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.json()["error"] == "unauthorized"
    wrong = http.post(server.url + DECLINE_PATH, json=payment, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    # Authentication comes first: a bad body without the token is still 401.
    assert http.post(server.url + DECLINE_PATH, data=b"{", timeout=30).status_code == 401


def test_no_token_configured_means_open(served, open_server, http):
    response = http.post(open_server.url + DECLINE_PATH, json=served.cases[-1].payment, timeout=30)
    assert response.status_code == 200


def test_healthz_is_liveness_only(server, http):
    response = http.get(server.url + HEALTH_PATH, timeout=30)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_models_and_online_store(server, http):
    response = http.get(server.url + READY_PATH, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["models"] == {"issuer_decline": "v0001", "decline_type": "v0001"}
    assert body["online_store"]["type"] == "sqlite" and body["online_store"]["reachable"] is True
    assert body["feature_service"] == "issuer_decline_v1"


@pytest.mark.parametrize("change, field, expected", [
    ({"amount_minor": float("nan")}, "amount_minor", "got float nan"),
    ({"amount_minor": float("inf")}, "amount_minor", "got float inf"),
    ({"amount_minor": 2**64 - 1}, "amount_minor", "at most 9223372036854775807"),
    ({"other_approved_cards": 2**63}, "other_approved_cards", "at most 9223372036854775807"),
    ({"candidate_gateways": ["gw_alpha", 7]}, "candidate_gateways", "got list ['gw_alpha', 7]"),
    ({"candidate_gateways": [["gw_alpha"]]}, "candidate_gateways", "distinct gateway names"),
    ({"attempted_at": "0001-01-01T00:00:00+01:00"}, "attempted_at", "years 1-9999"),
    ({"attempted_at": "9999-12-31T23:59:59-01:00"}, "attempted_at", "years 1-9999"),
])
def test_bad_values_are_422_naming_the_field(served, server, http, change, field, expected):
    """Values that used to reach a 500 (or would, through another client's JSON encoder): NaN and
    Infinity as Python's json writes them, integers past a BIGINT, wrong list items, instants
    outside datetime's range once converted to UTC."""
    body = json.dumps({**served.cases[-1].payment, **change})  # Python's json writes NaN and Infinity
    response = http.post(server.url + DECLINE_PATH, data=body, headers=AUTH, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_payment" and response.json()["field"] == field
    assert expected in response.json()["reason"]


@pytest.mark.parametrize("body", [b"null", b"123", b'"a payment"', b"[{}]", b"true"])
def test_non_object_bodies_are_422(server, http, body):
    response = http.post(server.url + DECLINE_PATH, data=body, headers=AUTH, timeout=30)
    assert response.status_code == 422 and response.json()["field"] == "(body)"
    assert "a JSON object" in response.json()["reason"]


def test_body_limit_and_metrics_in_process(served, server, http):
    response = http.post(server.url + DECLINE_PATH, data=b" " * (64 * 1024 + 1), headers=AUTH, timeout=30)
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"
    chunked = http.post(server.url + DECLINE_PATH, data=iter([b" " * 40_000, b" " * 40_000]), headers=AUTH, timeout=30)
    assert chunked.status_code == 413  # no Content-Length: cut off while streaming
    metrics = http.get(server.url + METRICS_PATH, timeout=30).text
    assert 'payloom_http_requests_total{method="POST",path="/v1/decisions/decline",status="413"}' in metrics


def test_request_id_is_echoed(served, server, http):
    response = http.post(server.url + DECLINE_PATH, json=served.cases[-1].payment,
                         headers={**AUTH, "X-Request-ID": "trace-42"}, timeout=30)
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "trace-42"
    refused = http.post(server.url + DECLINE_PATH, json={}, headers=AUTH, timeout=30)
    assert refused.status_code == 422 and len(refused.headers["X-Request-ID"]) == 32


def test_openapi_models_match_the_parser_and_a_real_decision(served):
    """The documented request fields are the fields PaymentRequest.parse reads; a real decision
    validates as the documented answer."""
    parsed = PaymentRequest.parse(served.cases[-1].payment)
    assert set(PaymentModel.model_fields) == {field.name for field in dataclasses.fields(parsed)}
    DecisionModel.model_validate(served.cases[-1].decision)


def test_docs_open_without_a_token(open_server, http):
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert http.get(open_server.url + path, timeout=30).status_code == 200, path


class _BrokenDecider:
    """A decider whose decision fails unexpectedly (a bug, not a bad payment)."""

    spool = None
    model_versions = {"issuer_decline": "v0001"}

    def decide(self, payment):
        raise RuntimeError("boom")


def test_unexpected_error_is_a_logged_500_in_the_error_shape(served, http, caplog):
    caplog.set_level(logging.INFO, logger="payloom.service")
    app = create_app(served.workspace, None, decider=_BrokenDecider(), freeze_gc=False)  # type: ignore[arg-type]
    with ServerThread(app) as running:
        response = http.post(running.url + DECLINE_PATH, json=served.cases[-1].payment, timeout=30)
    assert response.status_code == 500
    body = response.json()
    request_id = response.headers["X-Request-ID"]
    assert body == {"error": "internal_error", "field": None, "reason": body["reason"]} and request_id in body["reason"]
    failed = [record for record in caplog.records if record.getMessage() == "decision failed"]
    assert failed and failed[0].fields["request_id"] == request_id and "RuntimeError: boom" in caplog.text
