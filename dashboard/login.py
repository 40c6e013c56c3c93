"""The login gate: with an [auth] section in the secrets, nothing is shown before an OIDC login."""

from __future__ import annotations

import streamlit as st

TITLE = "Orchestrator runs"


def auth_configured() -> bool:
    """Whether `.streamlit/secrets.toml` has an [auth] section (then every page needs a login)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def login_required() -> bool:
    """Whether this visitor must log in first: a login is configured and they have not."""
    return auth_configured() and not st.user.get("is_logged_in", False)


def login_gate() -> None:
    """Stop the script run after a "Log in" button unless the visitor may see the dashboard."""
    if login_required():
        # A dashboard reachable by others: nothing is shown before an OIDC login.
        st.title(TITLE)
        st.button("Log in", type="primary", on_click=st.login)
        st.stop()
