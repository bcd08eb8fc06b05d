"""What every stage shares: the error hierarchy, the one declared event schema, the
formatters of money, counts, rates and durations, and time windows.

Nothing here imports another part of leadping_nb (see docs/architecture.md).
"""
