"""Structured logs of the decision service: one JSON object per line, through `logging`.

The service logs to the `payloom.service` logger, with its fields in `extra={"fields": {...}}`
(request id, status, error, field, reason, ...). `service_log_config(level)` is the logging
configuration uvicorn applies in every process it starts (its own loggers as uvicorn sets
them, plus `payloom` as JSON lines on stderr), so every worker of `payloom serve --workers N`
logs the same way.

>>> import logging
>>> record = logging.LogRecord("payloom.service", logging.WARNING, __file__, 1, "decision refused", None, None)
>>> record.fields = {"status": 422, "field": "attempted_at"}
>>> JsonLineFormatter().format(record)[:60]
'{"level":"warning","logger":"payloom.service","message":"dec'
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import orjson

__all__ = ["SERVICE_LOGGER", "JsonLineFormatter", "service_log_config"]

#: The logger every line of the decision service goes to.
SERVICE_LOGGER = "payloom.service"


class JsonLineFormatter(logging.Formatter):
    """A record as one JSON line: level, logger, message, its `fields`, time and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, "fields", None) or {})
        line["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line["pid"] = record.process
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def service_log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's default logging configuration plus the `payloom` logger as JSON lines at `level`."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["payloom_json"] = {"()": f"{__name__}.JsonLineFormatter"}
    config["handlers"]["payloom"] = {"formatter": "payloom_json", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    config["loggers"]["payloom"] = {"handlers": ["payloom"], "level": level.upper(), "propagate": False}
    return config
