"""payloom scoring: raw registration, the main job, training sets and (later) model training."""

from scoring.errors import PayloomError, PipelineError, RawContractError
from scoring.raw_contract import RawTableContract, load_raw_contract
from scoring.raw_tables import RegisteredTable, register_raw_tables

__all__ = [
    "PayloomError",
    "PipelineError",
    "RawContractError",
    "RawTableContract",
    "RegisteredTable",
    "load_raw_contract",
    "register_raw_tables",
]
