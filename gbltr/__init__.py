"""gbltr: gradient-boosted learning to rank on click labels, LLM labels, or both.

``import gbltr`` stays light: it imports neither openai, xgboost, lightgbm nor matplotlib.
"""

__version__ = "0.1.0"
