"""Real-time audiences: the event collector, its durable log, the evaluator and the real-time syncs.

`cdp stream` runs them in one process (README, "Real-time audiences"); the batch build stays
the source of truth and reconciles what the stream decided.
"""
