"""Models that leave training: rerank new candidates with a run, export it to search engines."""
