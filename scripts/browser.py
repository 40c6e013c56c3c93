"""Debian's Chromium driven by Playwright (never a browser Playwright downloads), and waiting
for a Streamlit page to be drawn. Shared by the browser journeys and the screenshot command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--headless",
]
VIEWPORT = {"width": 1440, "height": 900}


def missing_browser() -> str | None:
    """Why the browser cannot be driven here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-test.txt)"
    return None


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# CSS animations and transitions off (Streamlit's skeleton shimmer, spinners, fades): on this 2-core
# machine they took about a third of Chromium's CPU time for a page load, and what a page shows
# once drawn is the same without them (Playwright's own screenshots turn them off likewise).
_NO_ANIMATIONS = """document.addEventListener("DOMContentLoaded", () => {
    const style = document.createElement("style");
    style.textContent = "*, *::before, *::after { animation: none !important; transition: none !important; }";
    document.head.appendChild(style);
});"""


def new_context(browser: Any, **options: Any) -> Any:
    """A browser context (1440×900 unless `options` say otherwise) whose pages draw no animation."""
    context = browser.new_context(**{"viewport": VIEWPORT, **options})
    context.add_init_script(_NO_ANIMATIONS)
    return context


def wait_until_drawn(page: Any, timeout: float = 60_000) -> None:
    """Until the script run is over, no element is a loading skeleton or stale, and charts are drawn."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
            if (document.querySelector('[data-testid="stSkeleton"], [data-stale="true"]')) return false;
            const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
            return charts.every(chart => chart.querySelector('svg, canvas'));
        }""",
        timeout=timeout,
    )
