"""Benchmarks of the dashboard's queries at up to a million runs: figures and ratios, never pass/fail.

python -m bench                      # 100,000 runs, SQLite and PostgreSQL
python -m bench --runs 1000000       # a million
python -m bench --smoke              # 2,000 runs, a few repeats (for CI; asserts nothing)
"""
