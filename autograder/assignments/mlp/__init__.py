"""Hidden, trusted grading of the `mlp` assignment (never shipped, never sandboxed)."""
