"""The results ledger: experiments, runs, metrics, queries, comparisons, tables and plots.

Everything lives in the workspace's state database (tables `results_*`, see schema.py and
docs/results.md). No MCP here; scipy and matplotlib are imported inside the functions.
"""
