"""payloom scoring: raw registration, the main job, training sets, model training, the decision log, policy evaluation,
IPW routing and the optimisation bandit."""

from scoring.bandit_decisions import OptimizationBandit, register_bandit
from scoring.bandit_policy import BanditPolicy
from scoring.decision_history import create_bandit_views, read_decisions
from scoring.decision_log import Candidate, Decision, Reward, append_decisions, append_rewards
from scoring.errors import (
    DecisionLogError,
    InvalidIdentifierError,
    PayloomError,
    PipelineError,
    PolicyEvaluationError,
    RawContractError,
    RoutingError,
)
from scoring.off_policy import LogColumns, PolicyEvaluation, estimator_sql, evaluate_policy
from scoring.open_bandit import register_open_bandit_log
from scoring.raw_contract import RawTableContract, load_raw_contract
from scoring.raw_tables import RegisteredTable, register_raw_tables

__all__ = [
    "PayloomError",
    "PipelineError",
    "RawContractError",
    "DecisionLogError",
    "PolicyEvaluationError",
    "InvalidIdentifierError",
    "RawTableContract",
    "RegisteredTable",
    "load_raw_contract",
    "register_raw_tables",
    "Candidate",
    "Decision",
    "Reward",
    "append_decisions",
    "append_rewards",
    "read_decisions",
    "create_bandit_views",
    "LogColumns",
    "PolicyEvaluation",
    "estimator_sql",
    "evaluate_policy",
    "register_open_bandit_log",
    "RoutingError",
    "BanditPolicy",
    "OptimizationBandit",
    "register_bandit",
]
