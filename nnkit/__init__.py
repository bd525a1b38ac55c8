"""nnkit: the small public library the assignments import."""
from .module import Loss, Module, Optimizer, Sequential
from .random import rng, seed
