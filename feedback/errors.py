"""Domain errors raised by the feedback store.

Hierarchy::

    CopyloopError                  (genai.errors)
    ├── InvalidInputError          bad user input; names the field and the reason (genai.errors)
    └── FeedbackError              the feedback store refused or failed an operation
        ├── NotFoundError          no such row in this workspace
        ├── ConflictError          the request clashes with what is stored
        │   └── ImmutableError     the row can never be changed or deleted
        ├── StateError             the operation is not allowed in the row's current state
        ├── SignatureError         a webhook delivery whose platform signature is missing, wrong or stale
        ├── DatabaseError          the database could not be reached, migrated or written
        └── ConfigurationError     the store's own setup is wrong (e.g. the contact key file)

Only the edges (HTTP, CLI) translate these into status codes and exit codes.
"""

from __future__ import annotations

from genai.errors import CopyloopError, InvalidInputError

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "CopyloopError",
    "DatabaseError",
    "FeedbackError",
    "ImmutableError",
    "InvalidInputError",
    "NotFoundError",
    "SignatureError",
    "StateError",
]


class FeedbackError(CopyloopError):
    """Base class of the errors the feedback store raises on purpose."""

    code = "feedback_error"


class NotFoundError(FeedbackError):
    """A row that does not exist in the caller's workspace (rows of other workspaces count as absent)."""

    code = "not_found"


class ConflictError(FeedbackError):
    """A write that clashes with a stored row, e.g. a name already taken."""

    code = "conflict"


class ImmutableError(ConflictError):
    """An attempt to change or delete a row that is immutable once written."""

    code = "immutable"


class StateError(FeedbackError):
    """An operation that the row's current state does not allow."""

    code = "invalid_state"


class SignatureError(FeedbackError):
    """A webhook delivery that does not carry a valid, fresh signature of the platform's key."""

    code = "bad_signature"


class DatabaseError(FeedbackError):
    """The database could not be reached, migrated or written."""

    code = "database_error"


class ConfigurationError(FeedbackError):
    """The store is set up wrongly: a missing, unreadable or mismatched contact key, for example."""

    code = "configuration_error"
