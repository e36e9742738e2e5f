"""Sample data generator: a simulated population written as messy landing files.

`generate_landing` writes the initial load (2023-01-01 .. 2025-06-30) of every landing
table plus the ground truth (which person each record belongs to); `generate_drop` writes
the files of one later day. Output is deterministic for a given (people, seed, format).
"""

from sample_data.generator.output import generate_drop, generate_landing

__all__ = ["generate_drop", "generate_landing"]
