"""nnkit.search: the YAML config of a hyperparameter search and the trials it asks for."""
import pytest

from nnkit import search

CONFIG = """
mode: random
trials: 5
epochs: 2
space:
  lr: [0.01, 0.1, 0.3]
  weight_decay: [0.0, 1.0e-4]
  hidden: [64, 128]
"""


def test_a_config_is_read_with_its_own_keys_and_real_numbers(tmp_path):
    config = search.read_config(CONFIG)
    assert config["epochs"] == 2 and config["space"]["weight_decay"] == [0.0, 1e-4]
    path = tmp_path / "search.yaml"
    path.write_text(CONFIG)
    assert search.read_config(path) == search.read_config(str(path)) == config


def test_grid_is_every_combination_and_random_draws_distinct_ones_repeatably():
    config = search.read_config(CONFIG)
    grid = search.trials({**config, "mode": "grid"})
    assert len(grid) == 12 and len({tuple(t.values()) for t in grid}) == 12
    assert grid[0] == {"lr": 0.01, "weight_decay": 0.0, "hidden": 64}
    drawn = search.trials(config, seed=3)
    assert len(drawn) == 5 and len({tuple(t.values()) for t in drawn}) == 5 and all(t in grid for t in drawn)
    assert drawn == search.trials(config, seed=3) and drawn != search.trials(config, seed=4)
    assert len(search.trials({**config, "trials": 100})) == 12     # never more than the grid holds
    with pytest.raises(ValueError, match="trials: a positive whole number"):
        search.trials({**config, "trials": None})


@pytest.mark.parametrize("text, words", [
    ("mode: random\ntrials: 2\nspace:\n  lr: [1e-3, 0.1]\n", "write it with a decimal point"),
    ("mode: greedy\nspace:\n  lr: [0.1]\n", "mode must be one of"),
    ("mode: grid\nspace:\n  lr: []\n", "non-empty list"),
    ("mode: grid\n", "space must map"),
    ("- just\n- a list\n", "is a mapping"),
    ("mode: grid\nspace: !!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
])
def test_a_wrong_config_names_what_to_fix(text, words):
    with pytest.raises(Exception, match=words):
        search.read_config(text)
