"""A second exact solver, independent of :func:`matching.optimal_round`, to check it at full size (the benchmark).

``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` (LAPJVsp, a sparse shortest-augmenting-path algorithm,
not the dense solver of ``linear_sum_assignment``) on a sparse graph: one row per mentee with an eligible pair, one
column per free slot of a mentor, plus one private "stay unmatched" column per mentee. Costs: ``C - score`` for a slot,
``C`` for the private column, with ``C`` above every score, so every cost is positive (explicit edges) and a full
matching of the rows of least cost is a matching of largest total score. Only the eligible pairs are edges: its
memory follows the number of eligible pairs, not mentees x slots.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from matching.round import eligible_pairs
from matching.table import ScoreTable

__all__ = ["sparse_exact_total"]


def sparse_exact_total(table: ScoreTable, floor: float) -> float:
    """The largest total score of a capacitated round, by min-cost full bipartite matching on a sparse graph."""
    eligible = eligible_pairs(table, floor)
    rows = np.flatnonzero(eligible.any(axis=1))
    if rows.size == 0:
        return 0.0
    slots = np.minimum(table.remaining, eligible.sum(axis=0))
    first_slot = np.concatenate(([0], np.cumsum(slots)[:-1]))
    pair_rows, pair_cols = np.nonzero(eligible[rows])
    scores = table.scores[rows][pair_rows, pair_cols]
    # Every pair becomes one edge per slot of its mentor.
    per_pair = slots[pair_cols]
    edge_rows = np.repeat(pair_rows, per_pair)
    offsets = np.arange(per_pair.sum()) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    edge_cols = np.repeat(first_slot[pair_cols], per_pair) + offsets
    edge_scores = np.repeat(scores, per_pair)
    ceiling = float(scores.max()) + 1.0
    n, total_slots = rows.size, int(slots.sum())
    graph = sparse.csr_matrix(
        (
            np.concatenate((ceiling - edge_scores, np.full(n, ceiling))),
            (np.concatenate((edge_rows, np.arange(n))), np.concatenate((edge_cols, total_slots + np.arange(n)))),
        ),
        shape=(n, total_slots + n),
    )
    matched_rows, matched_cols = min_weight_full_bipartite_matching(graph)
    real = matched_cols < total_slots
    costs = np.asarray(graph[matched_rows[real], matched_cols[real]]).ravel()
    return round(float((ceiling - costs).sum()), 6) + 0.0
