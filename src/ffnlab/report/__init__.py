"""The generic report layer: run records in, tables and figures out, for any study.

collect (records → one row per run, one per evaluation) → stats and blocked (per-variant summaries, Welch /
paired / seed-blocked intervals, Holm) → tables (Markdown, LaTeX) and plots (functions of DataFrames); paper holds
the papers' reference numbers; diagnostics reads the activation diagnostics; notebook is what the notebooks call.
Pure pandas, scipy, statsmodels and matplotlib: never imports torch, and nothing here knows a particular study's
rules (those are in ffnlab.studies).
"""
