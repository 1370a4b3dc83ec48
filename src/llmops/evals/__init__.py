"""Evals: datasets, scorers and the LLM judge, the runner, stored runs, comparisons that explain a
regression, reports, and mining bad replies into cases to label (active learning)."""
