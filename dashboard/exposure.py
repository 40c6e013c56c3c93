"""Who can reach the dashboard: a warning in the sidebar when other machines can, without a login.

Streamlit listens on `server.address` (every interface when it is not set). The decision is
a plain function of that address, whether a login is configured and whether the dashboard
is read-only, so it is tested without a server.
"""

from __future__ import annotations

import ipaddress

import streamlit as st

from dashboard.login import auth_configured
from dashboard.state import read_only

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def reachable_from_other_machines(address: str | None) -> bool:
    """Whether a server listening on `address` (Streamlit's server.address) accepts other machines.

    No address means every interface; a host name other than localhost may resolve to a
    public interface, so only loopback addresses and names count as this machine alone.
    """
    host = (address or "").strip().strip("[]").lower()
    if not host:
        return True
    if host in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def exposure_warning(address: str | None, *, login: bool, read_only: bool) -> str | None:
    """The sidebar's warning for a dashboard others can reach without a login, or None."""
    if login or not reachable_from_other_machines(address):
        return None
    where = f'server.address is "{address}"' if address else "server.address is not set: every interface"
    if read_only:
        return (
            f"Other machines can open this dashboard without a login ({where}): anyone who can reach "
            "it can read every run; configure a login ([auth] in .streamlit/secrets.toml) or set "
            'server.address = "127.0.0.1".'
        )
    return (
        f"Other machines can open this dashboard without a login ({where}): anyone who can reach it "
        "can launch, cancel and delete runs; configure a login ([auth] in .streamlit/secrets.toml), "
        'set ORCHESTRATOR_READ_ONLY=true, or set server.address = "127.0.0.1".'
    )


def render_exposure_warning() -> None:
    """Show the warning (if any) where it is called: the sidebar."""
    message = exposure_warning(
        st.get_option("server.address"), login=auth_configured(), read_only=read_only()
    )
    if message:
        st.warning(message, icon=":material/public:")
