"""One exception hierarchy: each error carries a user-facing message and a process exit code; the helpers
that keep every message one line and free of credentials."""

import re


class PosthocError(Exception):
    """Base class: the message says what happened and what to do."""

    exit_code = 1


class BadInput(PosthocError):
    """Unknown run or experiment, bad option or config (exit 2)."""

    exit_code = 2


class StoreUnreachable(PosthocError):
    """The tracking store cannot be read: server down, missing or unreadable file (exit 3)."""

    exit_code = 3


_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s'\"]*):(?P<secret>[^@/\s'\"]+)@")
_BARE_TOKEN = re.compile(r"(?P<scheme>\bhttps?://)(?P<token>[^:/@\s'\"]+)@")  # https://TOKEN@host
_QUERY_SECRET = re.compile(r"(?i)(?P<key>[?&](?:password|passwd|pwd|token|access_token|secret|api_key|apikey)=)[^&\s'\"]+")


def redact(text: str) -> str:
    """Credentials in tracking URIs (user:secret@, https://TOKEN@, ?password=) become ***, wherever they are."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _BARE_TOKEN.sub(lambda m: f"{m['scheme']}***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}***", text)


def one_line(text: str) -> str:
    """Messages from libraries (YAML, SQL, HTTP) span lines; an error is one line on stderr."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())
