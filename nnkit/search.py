"""Hyperparameter search driven by a small YAML config, as the seed courses write theirs.

A config names the values to try for each hyperparameter (``space``), grid or random
search (``mode``) and how many random draws (``trials``); any other keys (budgets,
seeds) are the notebook's own and are returned as they are::

    mode: random          # grid: every combination; random: `trials` of them
    trials: 12
    space:
      lr: [0.01, 0.1]
      weight_decay: [0.0, 1.0e-4]

``read_config`` parses it with ``yaml.safe_load`` (no Python objects, ever) and checks
it; ``trials`` lists the configurations to train, seeded (``trials`` may be set after
reading, e.g. from a budget the config names).
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np

MODES = ("grid", "random")
# YAML 1.1 (PyYAML) reads 1e-4 as a string: only 1.0e-4 is a float
_NUMBER_LIKE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def read_config(text: str | Path) -> dict:
    """The search config in ``text`` (YAML), or in the file ``text`` names (a ``Path`` or a
    string ending in ``.yaml``/``.yml``); ``ValueError`` naming what to fix."""
    import yaml

    if isinstance(text, Path) or str(text).strip().endswith((".yaml", ".yml")):
        text = Path(text).read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise ValueError("a search config is a mapping: mode, trials, space, ...")
    if config.get("mode") not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {config.get('mode')!r}")
    space = config.get("space")
    if not isinstance(space, dict) or not space:
        raise ValueError("space must map each hyperparameter to the list of its values")
    for name, values in space.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"space: {name} must be a non-empty list of values, not {values!r}")
        for value in values:
            if isinstance(value, str) and _NUMBER_LIKE.match(value.strip()):
                raise ValueError(f"space: {name} value {value!r} was read as text (YAML reads 1e-4 as a string): "
                                 "write it with a decimal point, 1.0e-4")
    return config


def trials(config: dict, seed: int = 0) -> list[dict]:
    """Every configuration of the grid, or ``config["trials"]`` distinct ones drawn at random
    (seeded; all of them when the grid is smaller), as dicts {hyperparameter: value}."""
    if config["mode"] == "random" and not (isinstance(config.get("trials"), int) and config["trials"] > 0):
        raise ValueError("random search needs trials: a positive whole number")
    names = list(config["space"])
    grid = list(itertools.product(*config["space"].values()))
    if config["mode"] == "random":
        chosen = np.random.default_rng(seed).choice(len(grid), min(config["trials"], len(grid)), replace=False)
        grid = [grid[i] for i in chosen]
    return [dict(zip(names, values)) for values in grid]
