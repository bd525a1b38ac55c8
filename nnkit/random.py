"""One seeded generator for the whole kit, so a notebook run is repeatable."""
import numpy as np

_rng = np.random.default_rng(0)


def seed(value: int) -> None:
    global _rng
    _rng = np.random.default_rng(value)


def rng() -> np.random.Generator:
    return _rng
