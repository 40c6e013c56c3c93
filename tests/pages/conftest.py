"""The page tests: AppTest sessions on the test's database (both backends).

The fixtures live in tests/apptest_helpers.py; importing them here registers them for tests/pages.
"""

from tests.apptest_helpers import page_orch

__all__ = ["page_orch"]
