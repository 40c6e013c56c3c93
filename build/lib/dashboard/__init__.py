"""What the dashboard's pages share: cached resources, the sidebar, formatting, URL state.

Pages render; the `orchestrator` package decides and stores. Nothing here runs SQL or
LangGraph directly: it calls the package.
"""
