"""nnkit.training: train / evaluate / predict and History, with toy layers."""
import nnkit_toys as toys
import numpy as np
import pytest

import nnkit
from nnkit import Sequential, training


def mlp(n_in=4, hidden=16, n_out=3):
    return Sequential(toys.ToyLinear(n_in, hidden, seed=1), toys.ToyReLU(),
                      toys.ToyLinear(hidden, n_out, seed=2))


@pytest.fixture
def iris():
    return nnkit.load_iris()


@pytest.fixture(autouse=True)
def not_fast(monkeypatch):
    monkeypatch.delenv("NNKIT_FAST", raising=False)


def test_a_small_mlp_learns_iris(iris):
    model = mlp()
    history = nnkit.train(model, toys.ToySoftmaxCE(), toys.ToySGD(0.1), iris["train"],
                          iris["validation"], epochs=10, batch_size=10, verbose=False)
    assert len(history) == 10
    for values in (history.epochs, history.train_loss, history.train_acc, history.val_loss,
                   history.val_acc, history.seconds):
        assert len(values) == 10
    assert history.epochs == list(range(1, 11))
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] > 0.9
    loss, acc = nnkit.evaluate(model, toys.ToySoftmaxCE(), *iris["validation"])
    assert acc == pytest.approx(history.val_acc[-1]) and loss == pytest.approx(history.val_loss[-1])
    assert not history.fast


def test_training_is_repeatable_and_accepts_one_hot_labels(iris):
    x, y = iris["train"]
    runs = [nnkit.train(mlp(), toys.ToySoftmaxCE(), toys.ToySGD(0.1), (x, labels), epochs=3,
                        batch_size=16, seed=5, verbose=False)
            for labels in (y, np.eye(3)[y], y)]
    assert runs[0].train_loss == runs[1].train_loss == runs[2].train_loss
    other_seed = nnkit.train(mlp(), toys.ToySoftmaxCE(), toys.ToySGD(0.1), (x, y), epochs=3,
                             batch_size=16, seed=6, verbose=False)
    assert other_seed.train_loss != runs[0].train_loss


class CountingSGD(toys.ToySGD):
    def __init__(self, lr):
        super().__init__(lr)
        self.steps = 0

    def step(self, model):
        self.steps += 1
        super().step(model)


@pytest.mark.parametrize("fast, n, epochs, batch, steps, printed", [
    ("1", 3000, 4, 100, 20, True),      # capped at 1,000 samples and 2 epochs
    ("1", 500, 4, 100, 10, True),       # fewer samples than the cap: all kept, 2 epochs
    ("1", 500, 1, 100, 5, True),        # fewer epochs than the cap: as asked
    ("", 500, 2, 100, 10, False),
    ("0", 450, 2, 100, 10, False),      # the last batch of each epoch has 50
])
def test_fast_mode_caps_samples_and_epochs(monkeypatch, capsys, fast, n, epochs, batch, steps,
                                           printed):
    monkeypatch.setenv("NNKIT_FAST", fast)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, 4)), rng.integers(3, size=n)
    optimizer = CountingSGD(0.01)
    history = nnkit.train(mlp(), toys.ToySoftmaxCE(), optimizer, (x, y), epochs=epochs,
                          batch_size=batch, verbose=False)
    assert optimizer.steps == steps
    assert len(history) == (min(epochs, training.FAST_EPOCHS) if printed else epochs)
    assert history.fast is printed
    out = capsys.readouterr().out
    assert ("NNKIT_FAST is set" in out) is printed
    if printed:
        assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("fast, validated", [("1", 1000), ("", 3000)])
def test_fast_mode_validates_on_the_first_thousand(monkeypatch, capsys, fast, validated):
    monkeypatch.setenv("NNKIT_FAST", fast)
    seen = []
    real = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda model, loss, x, y: seen.append(len(x)) or real(model, loss, x, y))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3000, 4)), rng.integers(3, size=3000)
    nnkit.train(mlp(), toys.ToySoftmaxCE(), CountingSGD(0.01), (x, y), (x, y), epochs=2, verbose=False)
    assert seen == [validated, validated]
    assert ("validating on 1,000 of 3,000" in capsys.readouterr().out) is bool(fast)


def test_history_table_and_best():
    h = training.History(epochs=[1, 2, 3], train_loss=[1.0, 0.5, 0.4], train_acc=[0.5, 0.8, 0.9],
                         val_loss=[1.1, 0.6, 0.7], val_acc=[0.4, 0.85, 0.8], seconds=[1, 1, 1])
    lines = h.as_table().splitlines()
    assert len(lines) == 4 and "val acc" in lines[0] and "85.00%" in lines[2]
    assert h.best()["epoch"] == 2 and h.best()["val_acc"] == 0.85
    no_val = training.History(epochs=[1, 2], train_loss=[1, 0.5], train_acc=[0.3, 0.6],
                              seconds=[1, 1])
    assert "val" not in no_val.as_table() and no_val.best()["epoch"] == 2
    with pytest.raises(ValueError, match="empty"):
        training.History().best()


def test_evaluate_and_predict_restore_the_mode_and_batch_correctly(iris):
    model = mlp()
    x, y = iris["test"]
    full = np.argmax(model.forward(x), axis=1)
    for batch_size in (1, 7, 1000):
        np.testing.assert_array_equal(nnkit.predict(model, x, batch_size=batch_size), full)
    assert model.training
    model.eval()
    loss, acc = nnkit.evaluate(model, toys.ToySoftmaxCE(), x, y, batch_size=7)
    assert not model.training
    assert acc == pytest.approx(np.mean(full == y))
    assert loss == pytest.approx(toys.ToySoftmaxCE().forward(model.forward(x), y))
    assert nnkit.predict(model, x).dtype == np.int64


class ExplodingLoss(toys.ToySoftmaxCE):
    def forward(self, scores, labels):
        return float("nan")


def test_training_stops_with_a_message_when_the_loss_is_nan(iris, capsys):
    history = nnkit.train(mlp(), ExplodingLoss(), toys.ToySGD(0.1), iris["train"], epochs=5,
                          verbose=False)
    assert len(history) == 1
    assert "✗ training stopped in epoch 1: the loss became nan" in capsys.readouterr().out


class RecordingDashboard:
    def __init__(self):
        self.lengths, self.finished = [], 0

    def update(self, history):
        self.lengths.append(len(history))

    def finish(self):
        self.finished += 1


def test_dashboard_is_updated_after_every_epoch(iris):
    dash = RecordingDashboard()
    nnkit.train(mlp(), toys.ToySoftmaxCE(), toys.ToySGD(0.1), iris["train"], iris["validation"],
                epochs=3, dashboard=dash, verbose=False)
    assert dash.lengths == [1, 2, 3] and dash.finished == 1


def test_unwatched_runs_draw_no_dashboard_and_never_import_matplotlib(tmp_path):
    """The grader's in-kernel run sets NNKIT_UNWATCHED: dashboard=True trains as before, draws nothing
    (no dashboard, no progress bar widget)."""
    import os
    import subprocess
    import sys
    code = ("import sys, numpy as np, nnkit, nnkit_toys as toys\n"
            "from nnkit import Sequential\n"
            "x = np.random.default_rng(0).normal(size=(40, 4)); y = np.arange(40) % 3\n"
            "m = Sequential(toys.ToyLinear(4, 3, seed=1))\n"
            "h = nnkit.train(m, toys.ToySoftmaxCE(), toys.ToySGD(0.1), (x, y), epochs=2, dashboard=True)\n"
            "print(len(h), 'matplotlib' in sys.modules, 'tqdm.auto' in sys.modules)\n")
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    for unwatched, drew in (("1", "False"), ("", "True")):
        env = {**os.environ, "NNKIT_UNWATCHED": unwatched, "MPLBACKEND": "Agg", "NNKIT_FAST": "",
               "PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert out.stdout.split() == ["2", drew, drew], out.stderr[-2000:]


def test_mismatched_inputs_and_labels_are_refused():
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        nnkit.train(mlp(), toys.ToySoftmaxCE(), toys.ToySGD(0.1), (np.zeros((3, 4)), np.zeros(2)),
                    verbose=False)


def test_train_does_exactly_the_work_of_a_bare_loop(iris):
    """The progress bar, history and validation read the model but never change what it learns."""
    x, y = iris["train"]
    trained = mlp()
    nnkit.train(trained, toys.ToySoftmaxCE(), toys.ToySGD(0.1), (x, y), iris["validation"], epochs=2,
                batch_size=16, seed=3, verbose=True)
    bare, loss, opt = mlp(), toys.ToySoftmaxCE(), toys.ToySGD(0.1)
    rng = np.random.default_rng(3)
    for _ in range(2):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 16):
            idx = order[start:start + 16]
            loss.forward(bare.forward(x[idx]), y[idx])
            bare.backward(loss.backward())
            opt.step(bare)
    for key, value in bare.params().items():
        np.testing.assert_array_equal(trained.params()[key], value)


@pytest.mark.parametrize("bar_seconds, running_figures", [(0.0, True), (1e9, False)])
def test_progress_bar_shows_running_figures_only_when_it_redraws(monkeypatch, capsys, iris,
                                                                  bar_seconds, running_figures):
    monkeypatch.setattr(training, "_BAR_SECONDS", bar_seconds)
    nnkit.train(mlp(), toys.ToySoftmaxCE(), toys.ToySGD(0.1), iris["train"], iris["validation"],
                epochs=2, batch_size=16, verbose=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "val_acc=" in err      # the end of every epoch is always shown
    # Within an epoch the running loss is formatted only when the bar may redraw.
    assert (err.count("loss=") > err.count("val_acc=")) is running_figures


class Recording(toys.ToyReLU):
    """A layer that remembers every batch it is given in training mode."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x.copy())
        return super().forward(x)


def _recorded_run(iris, transform, seed=3):
    first = Recording()
    model = Sequential(first, toys.ToyLinear(4, 3, seed=1))
    history = nnkit.train(model, toys.ToySoftmaxCE(), toys.ToySGD(0.1), iris["train"], iris["validation"],
                          epochs=2, batch_size=16, seed=seed, verbose=False, transform=transform)
    return first.seen, history


def test_transform_changes_every_training_batch_repeatably_and_never_validation(iris):
    calls = []

    def jitter(xb, rng):
        calls.append(len(xb))
        return xb + rng.normal(size=xb.shape)

    plain, _ = _recorded_run(iris, None)
    jittered, _ = _recorded_run(iris, jitter)
    # called once per training batch, with the training inputs only (validation is never transformed)
    assert len(calls) == len(plain) and sum(calls) == 2 * len(iris["train"][0])
    again, _ = _recorded_run(iris, jitter)
    # same shuffling with or without a transform: the noise is all that differs
    assert all(a.shape == b.shape and not np.allclose(a, b) for a, b in zip(plain, jittered))
    assert all(np.array_equal(a, b) for a, b in zip(jittered, again))
    noise = np.concatenate([b - a for a, b in zip(plain, jittered)])
    assert abs(noise.mean()) < 0.1 and 0.9 < noise.std() < 1.1
    other_seed, _ = _recorded_run(iris, jitter, seed=4)
    assert not np.allclose(other_seed[0], jittered[0])
