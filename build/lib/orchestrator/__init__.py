"""Run and checkpoint LangGraph workflows on SQLite or PostgreSQL, and record every run."""
