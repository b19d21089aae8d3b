"""Risk and compliance: the signals captured at the edge (part 1 of issue 14)."""
