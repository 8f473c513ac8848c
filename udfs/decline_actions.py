"""Decline-driven actions in SQL: proceed, step-up authentication, another instrument, stand-in.

A decline policy (chosen by `scoring.decline_policy` and stored in the decline model's
manifest as `decision_policy`) becomes a DuckDB macro, `decline_action_<model>(...)`, so a
query decides what to do with each attempt from its scores and a few card facts:

    decline_action_issuer_decline(
        p_decline,              -- score_issuer_decline(...)
        decline_type,           -- score_decline_type(...): STRUCT of P(type | declined)
        other_approved_cards,   -- the customer's other cards approved before
        attempts_before, decline_ratio_90d,                                   -- card trust
        gateway_segment_approval_rate_1h, gateway_segment_approval_rate_7d)   -- outage signal

The rules, in order (PayPal's decline-driven actions):

1. stand_in_approval: an outage (the segment's last-hour approval rate fell below
   `outage_ratio` x its 7-day rate) and a trusted card (>= `trusted_min_attempts` earlier
   attempts, 90-day decline ratio <= `trusted_max_decline_ratio`), and the expected technical
   decline p_decline x P(technical) reaches its threshold: approve on the issuer's behalf.
2. step_up_authentication: p_decline x P(authentication_required or do_not_honor) reaches its
   threshold (CVV or 2FA turns risk declines into approvals).
3. offer_other_instrument: the customer has another card approved before and
   p_decline x P(insufficient_funds or hard_decline) reaches its threshold.
4. proceed otherwise. NULL inputs never fire a rule.

>>> policy = {"kind": "decline_action", "type_model": "decline_type",
...     "thresholds": {"stand_in_approval": 0.03, "step_up_authentication": 0.3, "offer_other_instrument": 0.4},
...     "outage_ratio": 0.6, "trusted_min_attempts": 10, "trusted_max_decline_ratio": 0.1}
>>> import duckdb
>>> connection = duckdb.connect()
>>> register_decline_action(connection, "issuer_decline", policy)
'decline_action_issuer_decline'
>>> row = "{'insufficient_funds': 0.7, 'do_not_honor': 0.1, 'hard_decline': 0.1, 'authentication_required': 0.05, 'technical': 0.05}"
>>> connection.execute(f"select decline_action_issuer_decline(0.8, {row}, 1, 3, 0.5, 0.9, 0.9), "
...     f"decline_action_issuer_decline(0.8, {row}, 0, 3, 0.5, 0.9, 0.9), "
...     f"decline_action_issuer_decline(0.8, {row}, 0, 30, 0.0, 0.1, 0.9)").fetchone()
('offer_other_instrument', 'proceed', 'stand_in_approval')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import duckdb

from udfs.errors import ModelArtifactError
from udfs.identifiers import check_class_names, check_model_name, struct_of_doubles

__all__ = [
    "ACTIONS", "PARAMETERS", "TYPE_FIELDS", "DeclineActionPolicy", "decline_action_case", "decline_action_macro", "decline_action_name",
    "decline_action_spark_function", "register_decline_action",
]

ACTIONS: tuple[str, ...] = ("proceed", "step_up_authentication", "offer_other_instrument", "stand_in_approval")
PARAMETERS: tuple[str, ...] = (
    "p_decline", "decline_type", "other_approved_cards", "attempts_before", "decline_ratio_90d", "approval_rate_1h", "approval_rate_7d",
)
"""The policy function's parameters, in order (the module docstring says what each is)."""
TYPE_FIELDS: tuple[str, ...] = ("insufficient_funds", "do_not_honor", "hard_decline", "authentication_required", "technical")
"""The fields of `decline_type` the rules read (the decline type model's classes)."""
_REQUIRED = ("thresholds", "outage_ratio", "trusted_min_attempts", "trusted_max_decline_ratio")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelArtifactError(f"decision_policy.{name} must be a number, got {value!r}; retrain to rewrite the policy")
    return float(value)


@dataclass(frozen=True)
class DeclineActionPolicy:
    """The numbers of a `decline_action` policy, read and checked once for SQL and Python alike.

    `decline_action_macro` renders these numbers into SQL and `action` applies the same rules in
    Python (the online decision service), so both read one parsed policy.
    """

    model_name: str
    stand_in_threshold: float
    step_up_threshold: float
    other_instrument_threshold: float
    outage_ratio: float
    trusted_min_attempts: float
    trusted_max_decline_ratio: float

    @classmethod
    def from_policy(cls, model_name: str, policy: Mapping[str, Any]) -> "DeclineActionPolicy":
        """Check `policy` (a manifest's `decision_policy`) and keep its numbers as floats."""
        if not isinstance(policy, Mapping):
            raise ModelArtifactError(f"model {model_name}'s decision_policy must be an object, got {policy!r}; retrain to rewrite the policy")
        missing = [key for key in _REQUIRED if key not in policy]
        if policy.get("kind") != "decline_action" or missing:
            raise ModelArtifactError(
                f"model {model_name}'s decision_policy is not a decline_action policy (missing {', '.join(missing) or 'kind'}); "
                "publish it with scoring.decline_policy.choose_decline_policy"
            )
        thresholds = policy["thresholds"]
        if not isinstance(thresholds, Mapping):
            raise ModelArtifactError(
                f"model {model_name}'s decision_policy.thresholds must be an object of action -> number, got {thresholds!r}; "
                "retrain to rewrite the policy"
            )
        return cls(
            model_name=model_name,
            stand_in_threshold=_number(thresholds.get("stand_in_approval"), "thresholds.stand_in_approval"),
            step_up_threshold=_number(thresholds.get("step_up_authentication"), "thresholds.step_up_authentication"),
            other_instrument_threshold=_number(thresholds.get("offer_other_instrument"), "thresholds.offer_other_instrument"),
            outage_ratio=_number(policy["outage_ratio"], "outage_ratio"),
            trusted_min_attempts=_number(policy["trusted_min_attempts"], "trusted_min_attempts"),
            trusted_max_decline_ratio=_number(policy["trusted_max_decline_ratio"], "trusted_max_decline_ratio"),
        )

    def action(
        self,
        p_decline: float | None,
        decline_type: Mapping[str, float | None],
        other_approved_cards: float | None,
        attempts_before: float | None,
        decline_ratio_90d: float | None,
        approval_rate_1h: float | None,
        approval_rate_7d: float | None,
    ) -> str:
        """The action the SQL macro picks for these inputs (rules in the module docstring).

        None and NaN are SQL NULL (missing): a comparison with a missing value is not true, so
        it never fires a rule, and a missing 90-day decline ratio counts as 0, as `coalesce`
        does. Arithmetic is in float64 in the macro's order, so results agree to the last bit.

        >>> policy = DeclineActionPolicy.from_policy("issuer_decline", {"kind": "decline_action",
        ...     "thresholds": {"stand_in_approval": 0.03, "step_up_authentication": 0.3, "offer_other_instrument": 0.4},
        ...     "outage_ratio": 0.6, "trusted_min_attempts": 10, "trusted_max_decline_ratio": 0.1})
        >>> types = {"insufficient_funds": 0.7, "do_not_honor": 0.1, "hard_decline": 0.1,
        ...     "authentication_required": 0.05, "technical": 0.05}
        >>> policy.action(0.8, types, 1, 3, 0.5, 0.9, 0.9), policy.action(0.8, types, None, 3, 0.5, 0.9, 0.9)
        ('offer_other_instrument', 'proceed')
        >>> policy.action(0.8, types, 0, 30, None, 0.1, 0.9)
        'stand_in_approval'
        """
        p = _present(p_decline)
        technical = _present(decline_type.get("technical"))
        authentication = _present(decline_type.get("authentication_required"))
        do_not_honor = _present(decline_type.get("do_not_honor"))
        funds = _present(decline_type.get("insufficient_funds"))
        hard = _present(decline_type.get("hard_decline"))
        rate_1h, rate_7d = _present(approval_rate_1h), _present(approval_rate_7d)
        attempts = _present(attempts_before)
        ratio = _present(decline_ratio_90d)
        others = _present(other_approved_cards)
        if (
            rate_1h is not None and rate_7d is not None and rate_1h < self.outage_ratio * rate_7d
            and attempts is not None and attempts >= self.trusted_min_attempts
            and (0.0 if ratio is None else ratio) <= self.trusted_max_decline_ratio
            and p is not None and technical is not None and p * technical >= self.stand_in_threshold
        ):
            return "stand_in_approval"
        if (
            p is not None and authentication is not None and do_not_honor is not None
            and p * (authentication + do_not_honor) >= self.step_up_threshold
        ):
            return "step_up_authentication"
        if (
            others is not None and others > 0
            and p is not None and funds is not None and hard is not None
            and p * (funds + hard) >= self.other_instrument_threshold
        ):
            return "offer_other_instrument"
        return "proceed"


def _present(value: float | None) -> float | None:
    """`value` as a float, or None when it is missing (None or NaN, SQL's NULL)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def decline_action_name(model_name: str) -> str:
    """`decline_action_<model>`, the model name checked against the identifier rule first (it is
    written into SQL unquoted, as the function name analysts call).

    >>> decline_action_name("issuer_decline")
    'decline_action_issuer_decline'
    """
    return f"decline_action_{check_model_name(model_name)}"


def decline_action_case(model_name: str, policy: Mapping[str, Any]) -> str:
    """The CASE expression of `policy` over the macro's parameters, in DuckDB SQL."""
    parsed = DeclineActionPolicy.from_policy(model_name, policy)
    stand_in = repr(parsed.stand_in_threshold)
    step_up = repr(parsed.step_up_threshold)
    other = repr(parsed.other_instrument_threshold)
    outage = repr(parsed.outage_ratio)
    trusted_attempts = repr(parsed.trusted_min_attempts)
    trusted_ratio = repr(parsed.trusted_max_decline_ratio)
    return f"""
    case
        when approval_rate_1h < {outage} * approval_rate_7d
            and attempts_before >= {trusted_attempts}
            and coalesce(decline_ratio_90d, 0.0) <= {trusted_ratio}
            and p_decline * decline_type.technical >= {stand_in}
            then 'stand_in_approval'
        when p_decline * (decline_type.authentication_required + decline_type.do_not_honor) >= {step_up}
            then 'step_up_authentication'
        when other_approved_cards > 0
            and p_decline * (decline_type.insufficient_funds + decline_type.hard_decline) >= {other}
            then 'offer_other_instrument'
        else 'proceed'
    end"""


def decline_action_macro(model_name: str, policy: Mapping[str, Any]) -> str:
    """The `create or replace temp macro` statement of `policy` (see the module docstring)."""
    return f"""
create or replace temp macro {decline_action_name(model_name)}(
    {", ".join(PARAMETERS)}
) as ({decline_action_case(model_name, policy)}
)"""


def decline_action_spark_function(model_name: str, policy: Mapping[str, Any], type_classes: Sequence[str]) -> str:
    """The same rules as a Spark SQL temporary function, on one line (the DuckDB CASE, transpiled).

    `type_classes` are the fields of `decline_type` in the type model's order (its STRUCT type);
    every other parameter is a DOUBLE, as in `DeclineActionPolicy.action`.

    >>> policy = {"kind": "decline_action", "thresholds": {"stand_in_approval": 0.03,
    ...     "step_up_authentication": 0.3, "offer_other_instrument": 0.4},
    ...     "outage_ratio": 0.6, "trusted_min_attempts": 10, "trusted_max_decline_ratio": 0.1}
    >>> decline_action_spark_function("issuer_decline", policy, ["technical"])
    Traceback (most recent call last):
    ...
    udfs.errors.ModelArtifactError: decline_action_issuer_decline needs decline_type fields authentication_required, do_not_honor, hard_decline, insufficient_funds; the type model has technical
    >>> decline_action_spark_function("issuer_decline", policy, TYPE_FIELDS)[:89]
    'CREATE OR REPLACE TEMPORARY FUNCTION decline_action_issuer_decline(p_decline DOUBLE, decl'
    """
    import sqlglot

    missing = sorted(set(TYPE_FIELDS) - set(type_classes))
    if missing:
        raise ModelArtifactError(
            f"decline_action_{model_name} needs decline_type fields {', '.join(missing)}; the type model has "
            f"{', '.join(type_classes) or 'none'}"
        )
    struct_type = struct_of_doubles(check_class_names(type_classes), "spark")
    types = {parameter: "DOUBLE" for parameter in PARAMETERS} | {"decline_type": struct_type}
    body = sqlglot.transpile(decline_action_case(model_name, policy), read="duckdb", write="spark")[0]
    parameters = ", ".join(f"{parameter} {types[parameter]}" for parameter in PARAMETERS)
    return f"CREATE OR REPLACE TEMPORARY FUNCTION {decline_action_name(model_name)}({parameters}) RETURNS STRING RETURN {body}"


def register_decline_action(connection: duckdb.DuckDBPyConnection, model_name: str, policy: Mapping[str, Any]) -> str:
    """Create the policy's macro on `connection` (temporary: it lives as long as the connection)."""
    connection.execute(decline_action_macro(model_name, policy))
    return decline_action_name(model_name)
