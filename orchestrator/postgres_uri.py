"""PostgreSQL URIs: parsed with libpq's own parser, and shown with every secret masked.

A URI may hold a password, so nothing here ever echoes the URI it was given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from orchestrator.errors import ConfigError

URI_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
URI_EXAMPLE = "postgresql://user:password@localhost:5432/orchestrator_db"
# libpq parameters that hold a secret: never shown, whatever form the URI takes.
SECRET_PARAMS = frozenset({"password", "sslpassword"})


def parse_postgres_uri(uri: str) -> dict[str, str]:
    """Parse a `postgresql://` (or `postgres://`) URI with libpq's own parser.

    Raises ConfigError, never echoing the URI (it may hold a password), when the scheme is
    another one, libpq cannot parse it, or it is ambiguous: an unencoded '@' in the password
    would make libpq read the password's tail as the host.
    """
    text = uri.strip()
    if "\x00" in text:
        raise ConfigError("POSTGRES_URI contains a NUL character; remove it.")
    if not text.lower().startswith(URI_SCHEMES):
        scheme = text.split("://", 1)[0] if "://" in text else ""
        shown = (
            f" uses the scheme {scheme!r}"
            if scheme and scheme.isascii() and scheme.isidentifier()
            else " is not a URI"
        )
        raise ConfigError(f"POSTGRES_URI{shown}; write it as {URI_EXAMPLE}.")
    if text.lower().startswith("postgresql+psycopg://"):
        text = "postgresql://" + text.split("://", 1)[1]
    # libpq looks for the user's '@' up to the first '/', and takes an '@' after that for part
    # of the database name: a password holding an unencoded '@' or '/' would be shown as the
    # host or the database. Such a URI is refused, never guessed at.
    authority, _, path = text.split("://", 1)[1].partition("/")
    if authority.count("@") > 1 or "@" in path.split("?", 1)[0]:
        raise ConfigError(
            "POSTGRES_URI is ambiguous: it has an '@' that is not the one before the host; "
            "percent-encode '@' as %40 and '/' as %2F in the user name and password."
        )
    from psycopg.conninfo import conninfo_to_dict  # psycopg: only where a URI is given

    try:
        params = conninfo_to_dict(text)
    except Exception:
        raise ConfigError(f"POSTGRES_URI cannot be parsed; write it as {URI_EXAMPLE}.") from None
    clean = {key: str(value) for key, value in params.items() if value is not None}
    for key in ("host", "port"):
        if "," in clean.get(key, ""):
            raise ConfigError(f"POSTGRES_URI names several hosts or ports; give one, as in {URI_EXAMPLE}.")
    port = clean.get("port", "")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigError("POSTGRES_URI has a port that is not a number from 1 to 65535; fix the port.")
    return clean


def masked_conninfo(params: Mapping[str, Any]) -> str:
    """A URI for people to read: every secret parameter shown as ***."""
    params = dict(params)
    user = params.pop("user", "")
    password = params.pop("password", None)
    host = params.pop("host", "")
    port = params.pop("port", "")
    dbname = params.pop("dbname", "")
    userinfo = (_enc(user) + (":***" if password else "") + "@") if user or password else ""
    netloc = host if not host.startswith("/") else ""
    if host.startswith("/"):
        params = {"host": host, **params}
    query = "&".join(
        f"{_enc(key)}={'***' if key in SECRET_PARAMS else _enc(str(value))}" for key, value in params.items()
    )
    netloc = _enc(netloc, safe=".:[]")
    return f"postgresql://{userinfo}{netloc}{':' + _enc(port) if port else ''}/{_enc(dbname)}" + (
        f"?{query}" if query else ""
    )


def _enc(text: str, safe: str = "") -> str:
    """Percent-encoded, so the masked URI reads back as the same parameters."""
    return quote(str(text), safe=safe + "-._~")
