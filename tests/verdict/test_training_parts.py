"""Training parts: a spec declares one or several; a table of features (iris) is disguised by a
secret order of its columns and a relabelling, as images are by a symmetry of the square."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.engine import training
from autograder.engine.grade import Part, Spec
from autograder.engine.training import Network, TrainingPart

NET = Network([("Linear", (4, 3), {})], "SoftmaxCrossEntropyLoss", "SGD", [(1, 0.1)])


def _part(name, data="iris"):
    return TrainingPart(Part(name, f"{name}-tests", name, name), (), data, NET, 0.9)


@pytest.mark.parametrize("training_parts, names", [
    (None, ["a"]),
    (_part("training", "mnist"), ["a", "training"]),
    ([_part("training", "mnist"), _part("iris")], ["a", "training", "iris"]),
])
def test_a_spec_grades_one_training_part_or_several_after_the_others(training_parts, names):
    spec = Spec("x", [Part("a", "a-tests", "a", "A")], lambda seed: [], None, training=training_parts)
    assert [p.name for p in spec.all_parts()] == names
    assert [t.part.name for t in spec.trainings] == names[1:]
    assert spec.part(names[-1]).name == names[-1]


def test_a_table_is_disguised_by_a_column_order_and_a_relabelling(tmp_path, monkeypatch):
    monkeypatch.setenv("NNKIT_GRADER_CACHE", str(tmp_path))
    x, y = training.split("iris", "train")
    assert x.shape == (120, 4) and np.bincount(y).tolist() == [40, 40, 40]     # stratified, no validation part
    secrets = {(order, tuple(labels)) for order, labels in (training.disguise(s, "iris") for s in range(8))}
    assert len(secrets) > 1
    order, labels = training.disguise(11, "iris")
    assert sorted(order) == [0, 1, 2, 3] and sorted(labels.tolist()) == [0, 1, 2]
    dx, dy = training.apply(x, y, 11, "iris")
    np.testing.assert_array_equal(dx, x[:, list(order)])
    np.testing.assert_array_equal(dy, labels[y])
    x_file, y_file = training.train_files(11, "iris")
    np.testing.assert_allclose(np.load(x_file), dx, rtol=1e-6)     # float32 on disk: not whole pixel values
    np.testing.assert_array_equal(np.load(y_file), dy)
    tx, ty = training.apply(*training.split("iris", "test"), 11, "iris")
    assert tx.shape == (30, 4) and set(ty.tolist()) == {0, 1, 2}
