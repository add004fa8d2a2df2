"""The optimal capacitated matching round (DESIGN §10): the score table with numpy, the assignment with scipy.

Imports ``domain`` and nothing outer (import-linter): the CLI, the API and the benchmark call it.
"""

from matching.round import UNMATCHED_REASONS, Proposal, RoundResult, Unmatched, greedy_round, optimal_round
from matching.table import ScoreTable, build_table

__all__ = [
    "UNMATCHED_REASONS",
    "Proposal",
    "RoundResult",
    "ScoreTable",
    "Unmatched",
    "build_table",
    "greedy_round",
    "optimal_round",
]
