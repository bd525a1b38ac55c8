"""The training loop the assignments share: minibatch SGD with a progress bar.

Students write the layers, the loss and the optimizer; ``train`` only wires
them together (forward, loss, backward, ``optimizer.step``) and records a
:class:`History`, so every notebook trains and reports the same way.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .fast import FAST_EPOCHS, FAST_SAMPLES, fast_mode, unwatched
from .history import History
from .module import Loss, Module, Optimizer

_BAR_SECONDS = 0.5  # the progress bar redraws at most this often


def _int_labels(y) -> np.ndarray:
    """Class indices ``(N,)`` from integer labels or one-hot rows ``(N, K)``."""
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64, copy=False)


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def evaluate(model: Module, loss: Loss | None, x, y, batch_size: int = 1000):
    """Mean loss and accuracy of ``model`` on ``x: (N, D)``, ``y: (N,)`` or one-hot.

    The model is put in eval mode and restored afterwards.  Returns
    ``(loss, accuracy)``; loss is NaN when ``loss`` is None.
    """
    y = _int_labels(y)
    was_training = getattr(model, "training", True)
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for s in _batches(len(x), batch_size):
            scores = model.forward(x[s])
            if loss is not None:
                total_loss += float(loss.forward(scores, y[s])) * len(y[s])
            correct += int(np.sum(np.argmax(scores, axis=1) == y[s]))
    finally:
        if was_training:
            model.train()
    n = max(len(x), 1)
    return (total_loss / n if loss is not None else float("nan")), correct / n


def predict(model: Module, x, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes ``(N,)`` int64: the argmax of the model's scores."""
    was_training = getattr(model, "training", True)
    model.eval()
    try:
        out = [np.argmax(model.forward(x[s]), axis=1) for s in _batches(len(x), batch_size)]
    finally:
        if was_training:
            model.train()
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def _make_dashboard(dashboard):
    if dashboard is None or dashboard is False:
        return None
    if dashboard is True:
        if unwatched():
            return None
        from .viz import Dashboard

        return Dashboard()
    return dashboard


def train(model: Module, loss: Loss, optimizer: Optimizer, train, validation=None,
          epochs: int = 10, batch_size: int = 100, seed: int = 0, dashboard=None,
          verbose: bool = True, transform=None) -> History:
    """Train ``model`` with minibatches and return its :class:`History`.

    Parameters
    ----------
    train : ``(x: (N, D), y: (N,) int or (N, K) one-hot)``.
    validation : optional ``(x, y)`` evaluated after every epoch.
    epochs, batch_size : the last batch of an epoch may be smaller.
    seed : seeds the shuffling (a fresh order every epoch, the same run every time).
    dashboard : None, True (a new :class:`nnkit.viz.Dashboard`) or a Dashboard;
        it receives ``update(history)`` after every epoch and ``finish()`` at the end.
        True draws nothing with ``NNKIT_UNWATCHED=1`` (the grader's runs), nor does the bar.
    verbose : progress bar and messages.
    transform : optional ``transform(x_batch, rng) -> x_batch``, applied to every training
        batch (never to validation), e.g. data augmentation: new variations every epoch.
        ``rng`` is a ``numpy.random.Generator`` of its own, seeded from ``seed``, so the
        run is repeatable and the shuffling is the same with or without a transform.

    With ``NNKIT_FAST=1`` (the grader and tests) at most 1,000 training
    samples and 2 epochs are used, and the first 1,000 validation samples;
    one line says so.  Training stops early,
    with a message, if the loss becomes NaN or infinite (before that batch's
    update, so the model keeps its last finite weights).
    """
    x, y = train
    y = _int_labels(y)
    if len(x) != len(y):
        raise ValueError(f"train has {len(x)} inputs but {len(y)} labels")
    rng = np.random.default_rng(seed)
    transform_rng = np.random.default_rng([seed, 1])     # its own stream: the shuffling does not depend on it
    history = History(fast=fast_mode())
    n = len(x)
    if history.fast:
        keep = rng.permutation(n)[:FAST_SAMPLES]
        x, y = x[keep], y[keep]
        validating = ""
        # The validation pass of a shortened run is shortened too: over 5,000 images it cost
        # more than training on 1,000 (a CNN's forward passes: seconds of every graded run).
        if validation is not None and len(validation[0]) > FAST_SAMPLES:
            validating = f", validating on {FAST_SAMPLES:,} of {len(validation[0]):,}"
            validation = (validation[0][:FAST_SAMPLES], validation[1][:FAST_SAMPLES])
        print(f"NNKIT_FAST is set: training on {len(x):,} of {n:,} samples for at most "
              f"{FAST_EPOCHS} epochs (asked for {epochs}){validating}.")
        n, epochs = len(x), min(epochs, FAST_EPOCHS)
    dash = _make_dashboard(dashboard)

    show_bar = verbose and not unwatched()
    if show_bar:
        from tqdm.auto import tqdm
    else:                       # no widget to build: tqdm.auto's import of ipywidgets alone is 0.06 s
        from tqdm.std import tqdm

    steps_per_epoch = math.ceil(n / batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, disable=not show_bar, unit="batch",
               mininterval=_BAR_SECONDS, leave=True)
    clock = time.perf_counter
    diverged = False
    try:
        for epoch in range(1, epochs + 1):
            bar.set_description(f"epoch {epoch}/{epochs}")
            model.train()
            order = rng.permutation(n)
            loss_sum, correct, seen = 0.0, 0, 0
            start = shown = clock()
            for s in _batches(n, batch_size):
                idx = order[s]
                xb, yb = x[idx], y[idx]
                if transform is not None:
                    xb = transform(xb, transform_rng)
                scores = model.forward(xb)
                value = float(loss.forward(scores, yb))
                loss_sum += value * len(idx)
                correct += int(np.count_nonzero(scores.argmax(axis=1) == yb))
                seen += len(idx)
                if not math.isfinite(value):
                    # Stop before the update: the model keeps its last finite weights.
                    bar.update(1)
                    diverged = True
                    break
                model.backward(loss.backward())
                optimizer.step(model)
                # The running figures are formatted only as often as the bar redraws:
                # per batch they would cost more than the bar itself.
                if show_bar and clock() - shown >= _BAR_SECONDS:
                    shown = clock()
                    bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                                    refresh=False)
                bar.update(1)
            history.seconds.append(time.perf_counter() - start)
            history.epochs.append(epoch)
            history.train_loss.append(loss_sum / seen)
            history.train_acc.append(correct / seen)
            if validation is not None:
                vl, va = evaluate(model, loss, validation[0], validation[1])
                history.val_loss.append(vl)
                history.val_acc.append(va)
                bar.set_postfix(loss=f"{history.train_loss[-1]:.4f}",
                                acc=f"{history.train_acc[-1]:.3f}", val_acc=f"{va:.3f}")
            if dash is not None:
                dash.update(history)
            if diverged:
                break
    finally:
        bar.close()
        if dash is not None:
            dash.finish()
    if diverged:
        print(f"✗ training stopped in epoch {history.epochs[-1]}: the loss became "
              f"{value} — the learning rate may be too high, or the loss overflows")
    return history
