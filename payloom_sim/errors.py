"""The simulator's one error type.

>>> raise SimulatorError("days must be at least 1, got 0: pass --days 1 or more")
Traceback (most recent call last):
...
payloom_sim.errors.SimulatorError: days must be at least 1, got 0: pass --days 1 or more
"""

__all__ = ["SimulatorError"]


class SimulatorError(Exception):
    """The simulator was asked for something it cannot do; the message says what was expected and what to do."""
