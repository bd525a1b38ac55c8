"""Hidden, trusted grading of the `cnn` assignment (never shipped, never sandboxed): see spec.py."""
