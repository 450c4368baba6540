"""Analyses over prepared data and fitted rankers: which signals each label source teaches.

``ablation``            retrain without each feature group; Δ nDCG per label source and bucket,
                        with attribution and true negatives beside it (``gbltr ablation``)
``attribution``         TreeSHAP shares, permutation importance and split-gain shares per group
``true_negatives``      documents from other queries added to each test list (the paper's F4)
``label_distributions`` grade histograms and pairwise agreement of human, click and LLM labels
"""

from gbltr.ranges import count

PERMUTATION_REPEATS = count(0, note="0 = no permutation importance")
"""``gbltr ablation --permutation-repeats``: seeded permutations per feature group."""
TRUE_NEGATIVES = count(0, note="0 = none")
"""``gbltr ablation --true-negatives``: documents from other queries added to each test list."""
