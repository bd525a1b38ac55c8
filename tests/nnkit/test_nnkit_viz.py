"""nnkit.viz headless: never blocks, always returns figures, quickly."""

import matplotlib
import nnkit_toys as toys
import numpy as np
import pytest
from matplotlib.figure import Figure

import nnkit
from nnkit import training, viz


def history(n_epochs, offset=0.0, validation=True):
    e = np.arange(1, n_epochs + 1)
    return training.History(
        epochs=e.tolist(), train_loss=(1 / e + offset).tolist(), train_acc=(1 - 0.5 / e).tolist(),
        val_loss=(1.2 / e + offset).tolist() if validation else [],
        val_acc=(1 - 0.6 / e).tolist() if validation else [], seconds=[0.1] * n_epochs)


def test_headless_defaults():
    assert not viz.front_end_present()
    assert not viz.Dashboard().live
    assert matplotlib.get_backend().lower() == "agg"


@pytest.mark.parametrize("live", [False, True, None])
def test_dashboard_never_blocks_and_draws_a_figure(live):
    dash = viz.Dashboard(live=live, title="toy run")
    assert dash.finish() is None  # nothing to draw yet
    h = training.History()
    for n in range(1, 6):
        full = history(n)
        h.epochs, h.train_loss, h.train_acc = full.epochs, full.train_loss, full.train_acc
        h.val_loss, h.val_acc, h.seconds = full.val_loss, full.val_acc, full.seconds
        dash.update(h)
    if not live:  # headless: nothing is drawn per epoch, one figure at the end
        assert dash.figure is None
    fig = dash.finish()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [len(line.get_xdata()) for line in fig.axes[1].lines] == [5, 5]
    assert dash.finish() is fig
    if live:
        assert dash.widget.children[0].value[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_with_dashboard_true_works_headless(monkeypatch):
    monkeypatch.setenv("NNKIT_FAST", "1")
    d = nnkit.load_iris()
    model = nnkit.Sequential(toys.ToyLinear(4, 3))
    h = nnkit.train(model, toys.ToySoftmaxCE(), toys.ToySGD(0.1), d["train"], d["validation"],
                    epochs=3, dashboard=True, verbose=False)
    assert len(h) == training.FAST_EPOCHS


@pytest.mark.parametrize("runs, validation", [(1, True), (9, True), (12, False)])
def test_plot_history(runs, validation):
    hs = {f"lr={0.1 * i:.1f}": history(4, 0.1 * i, validation) for i in range(runs)}
    fig = viz.plot_history(hs)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].lines) == runs * (2 if validation else 1)
    assert isinstance(viz.plot_history(history(3)), Figure)


def test_plot_weights_shows_one_image_per_unit():
    W = np.random.default_rng(0).standard_normal((784, 20))
    fig = viz.plot_weights(W, n=16)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 16 and images[3].shape == (28, 28)
    np.testing.assert_allclose(images[3], W[:, 3].reshape(28, 28))
    few = viz.plot_weights(W[:, :5], n=16)  # fewer units than asked for
    assert len([ax for ax in few.axes if ax.images]) == 5


@pytest.mark.parametrize("shape", [(10, 784), (784,), (100, 16)])
def test_plot_weights_rejects_a_wrong_layout(shape):
    with pytest.raises(ValueError, match=r"expects \(D, H\)"):
        viz.plot_weights(np.zeros(shape))


def test_plot_augmentation_shows_each_image_before_and_after_one_seeded_call():
    images = np.random.default_rng(1).random((20, 784))
    calls = []

    def shift_and_noise(batch, rng):
        calls.append(len(batch))
        return np.roll(batch.reshape(-1, 28, 28), 1, axis=2).reshape(batch.shape) + rng.normal(size=batch.shape)

    fig = viz.plot_augmentation(images, shift_and_noise, n=6, seed=3)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert calls == [6] and len(shown) == 12
    expected = shift_and_noise(images[:6], np.random.default_rng(3))
    for k in range(6):
        np.testing.assert_allclose(shown[k], images[k].reshape(28, 28))            # top row: before
        np.testing.assert_allclose(shown[6 + k], expected[k].reshape(28, 28))      # bottom row: after
    with pytest.raises(ValueError, match="784 pixels in and out"):
        viz.plot_augmentation(images, lambda batch, rng: batch[:, :100])


def test_plot_confusion_counts():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    fig = viz.plot_confusion(y_true, y_pred, classes=["a", "b", "c"])
    counts = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert "71.43%" in fig.axes[0].get_title()
    fig = viz.plot_confusion(np.eye(3)[y_true], y_pred, classes=3, normalize=True)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array().sum(axis=1), 1)


@pytest.mark.parametrize("title", [None, "activation × loss"])
def test_plot_history_says_which_line_is_which(title):
    fig = viz.plot_history({"a": history(3, 0.1, True)}, title=title)
    assert "solid: training, dashed: validation" in fig._suptitle.get_text()
