"""python -m orchestrator ..."""

from orchestrator.cli import run

run()
