"""How statuses and actions look, in one place: Material icons, colours, labels.

Text, buttons, tables and charts all read this map, so a status has the same colour in the
runs table, a run's header and the timeline. Icons are Streamlit's Material Symbols (a font
served with the app), never emoji, which a machine without an emoji font draws as empty boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.status import ALL_STATUSES, Action, RunStatus, TaskStatus


@dataclass(frozen=True)
class Look:
    """`icon` is a Material Symbol name; `color` a hex colour; `text_color` its Markdown colour name."""

    icon: str
    color: str
    text_color: str


LOOKS: dict[str, Look] = {
    RunStatus.QUEUED: Look("schedule", "#8d8d8d", "gray"),
    # A task waiting for a concurrency slot: scheduled, not working (run statuses share the rest).
    TaskStatus.WAITING: Look("hourglass_empty", "#b6bcc6", "gray"),
    RunStatus.RUNNING: Look("autorenew", "#1e6fd9", "blue"),
    RunStatus.AWAITING_INPUT: Look("front_hand", "#7b3fe4", "violet"),
    RunStatus.SUCCEEDED: Look("check_circle", "#2e9e4f", "green"),
    RunStatus.FAILED: Look("error", "#d93636", "red"),
    RunStatus.CANCELLED: Look("block", "#5f6368", "gray"),
    RunStatus.INTERRUPTED: Look("warning", "#e8830c", "orange"),
}
UNKNOWN = Look("help", "#8d8d8d", "gray")
# Task statuses share the run statuses' names (a task waiting for a person is `awaiting_input`, one
# stopped before its work began `cancelled`), but for `waiting`, a task's wait for a slot.
ORDER: tuple[str, ...] = (RunStatus.QUEUED, TaskStatus.WAITING, *ALL_STATUSES[1:])


# A status as a person reads it (the stored value stays `awaiting_input`).
STATUS_WORDS: dict[str, str] = {RunStatus.AWAITING_INPUT: "awaiting input"}


def status_word(status: str) -> str:
    """'awaiting input' for `awaiting_input`; every other status is already a word."""
    return STATUS_WORDS.get(status, str(status))


def look(status: str) -> Look:
    return LOOKS.get(status, UNKNOWN)


def icon(name: str) -> str:
    """A Material Symbol as Streamlit writes it in text, labels and `icon=` arguments."""
    return f":material/{name}:"


def status_icon(status: str) -> str:
    """The status's icon in its colour, for Markdown."""
    found = look(status)
    return f":{found.text_color}[{icon(found.icon)}]"


def status_label(status: str) -> str:
    """'<coloured icon> succeeded': for headers, cards and captions (Markdown)."""
    return f"{status_icon(status)} {status_word(status)}"


def status_colors() -> tuple[list[str], list[str]]:
    """(statuses, colours) in lifecycle order: a chart's colour scale, a table column's colours."""
    return list(ORDER), [look(status).color for status in ORDER]


# Runs drawn side by side (compare): a palette apart from the statuses' (no green, red, blue,
# orange, violet or gray), so no run reads as succeeded or failed by its colour.
RUN_COLORS: tuple[str, ...] = (
    "#00897b",  # teal
    "#c2185b",  # raspberry
    "#8d6e63",  # taupe
    "#9e9d24",  # olive
    "#00acc1",  # cyan
    "#5d4037",  # brown
    "#f06292",  # pink
    "#1a237e",  # navy
    "#c0a060",  # sand
    "#004d40",  # deep teal
)


def status_bar(fraction: float, status: str) -> str:
    """A progress bar in the status's colour (HTML for `st.markdown`): a failed run's is red, a
    succeeded one's green, not the theme's one colour for every run."""
    percent = round(100 * min(max(fraction, 0.0), 1.0))
    return (
        f'<div class="run-bar" data-status="{status}" title="{percent}%" '
        'style="background:#e8eaed;border-radius:4px;height:8px;margin:4px 0">'
        f'<div style="width:{percent}%;background:{look(status).color};height:8px;border-radius:4px"></div></div>'
    )


# The buttons' and pages' icons (Material Symbols names).
ACTION_ICONS: dict[str, str] = {
    Action.CANCEL: "cancel",
    Action.RESUME: "play_arrow",
    Action.APPROVE: "check",
    Action.REJECT: "close",
    Action.RERUN: "replay",
    Action.LAUNCH_AGAIN: "edit_note",
    Action.DELETE: "delete",
    Action.TAG: "sell",
}
PAGE_ICONS: dict[str, str] = {
    "app": "explore",
    "runs": "list_alt",
    "run_detail": "search",
    "compare": "compare_arrows",
    "overview": "monitoring",
    "launch": "rocket_launch",
    "workers": "dns",
}
