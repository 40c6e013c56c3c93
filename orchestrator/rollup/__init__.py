"""The overview's rollups: what the runs and tasks of a period add up to, without reading them all.

Triggers on `runs` and `run_tasks` (migrations 0011, 0013, 0014) append every change to
`rollup_deltas` and `node_deltas` in the writer's own transaction; `compact` (fold.py) folds
them into one row per UTC day (runs) or hour and day (tasks) and key; `tally` (run_tally.py) and
`node_tally` (node_tally.py) add a period up from the rollups, the unfolded deltas and, for its
ragged ends, the runs. The bins (bins.py) are the table the triggers read.
"""

from orchestrator.rollup.bins import Bins, bars, load_bins, percentiles
from orchestrator.rollup.fold import COMPACT_LOCK_KEY, compact
from orchestrator.rollup.node_tally import NodeTally, node_figures, node_tally, whole_hours
from orchestrator.rollup.run_tally import HOURLY_UP_TO, Tally, tally, whole_days

__all__ = [
    "COMPACT_LOCK_KEY",
    "HOURLY_UP_TO",
    "Bins",
    "NodeTally",
    "Tally",
    "bars",
    "compact",
    "load_bins",
    "node_figures",
    "node_tally",
    "percentiles",
    "tally",
    "whole_days",
    "whole_hours",
]
