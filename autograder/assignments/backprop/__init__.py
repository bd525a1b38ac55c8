"""Hidden checks of the `backprop` assignment (see spec.py)."""
