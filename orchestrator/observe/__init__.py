"""See inside a run: what its tasks logged and the model calls they made (tokens, cost).

- `capture`: the logging handler and a run's observations waiting to be written;
- `model_calls`: LangChain callbacks recording each model call, and its cost from the prices;
- `reads`: a run's logs, model calls and their totals, for the pages and the CLI.

The executor writes the observations through the run's fence (orchestrator.fenced_run), in the
same batches as its task events.
"""
