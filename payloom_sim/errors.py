"""Errors of the simulator."""

__all__ = ["SimulatorError"]


class SimulatorError(ValueError):
    """The simulator was asked for something it cannot do; the message says what to pass instead."""
