"""Domain errors raised by the monitoring package.

Hierarchy::

    CopyloopError                  (genai.errors)
    ├── InvalidInputError          bad user input: a window, a threshold file (genai.errors)
    └── MonitoringError            a monitoring run could not be completed
        └── WorkspaceLockedError   another run holds the monitoring workspace

Failed report tests are not errors: the job returns them. Only the edges (HTTP, CLI) translate
these into status codes and exit codes.
"""

from __future__ import annotations

from genai.errors import CopyloopError, InvalidInputError

__all__ = ["CopyloopError", "InvalidInputError", "MonitoringError", "WorkspaceLockedError"]


class MonitoringError(CopyloopError):
    """A monitoring run could not be completed."""

    code = "monitoring_failed"


class WorkspaceLockedError(MonitoringError):
    """Another monitoring run is writing to the same workspace."""

    code = "monitoring_locked"
