"""LLM relevance labels (Yu, Bi, Guo et al. 2025, "Can LLM Annotations Replace User Clicks for
Learning to Rank?", arXiv 2511.06635): PointAnn, ListAnn, ListRank, ListSel over any
OpenAI-compatible endpoint, with a durable answer cache, robust calls, the Batch API, cost
estimates and agreement reports.

Importing this package is light: openai, xllamacpp and matplotlib load only when used.

* :func:`load_llm_labels` -- read a label set for training (``gbltr fit --labels llm``).
* :func:`gbltr.labels.llm.annotate.annotate` -- the library entry point.
* :func:`gbltr.labels.llm.run.run_annotate` -- what ``gbltr annotate`` runs.
"""

from gbltr.labels.llm.labelset import load_llm_labels

__all__ = ["load_llm_labels"]
