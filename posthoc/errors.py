"""One exception hierarchy: each error carries a user-facing message and a process exit code."""


class PosthocError(Exception):
    """Base class: the message says what happened and what to do."""

    exit_code = 1


class BadInput(PosthocError):
    """Unknown run or experiment, bad option or config (exit 2)."""

    exit_code = 2


class StoreUnreachable(PosthocError):
    """The tracking store cannot be read: server down, missing or unreadable file (exit 3)."""

    exit_code = 3
