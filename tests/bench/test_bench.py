"""bench/: the variants measure what they say, and the setting is reported (no timings asserted)."""
import json

import numpy as np
import pytest

from bench import epoch, machine


def _train(model, loss, opt, x, y, batches=5):
    for idx in np.array_split(np.arange(len(x)), batches):
        loss.forward(model.forward(x[idx]), y[idx])
        model.backward(loss.backward())
        opt.step(model)
    return model.params()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", list(epoch.OPTIMIZERS))
def test_skipping_the_first_input_gradient_learns_the_same_weights(dtype, optimizer):
    """The reference (Sequential's first layer told no input gradient is needed) leaves out only work nobody uses."""
    rng = np.random.default_rng(0)
    x, y = rng.random((500, 784), dtype=np.float32).astype(dtype), rng.integers(10, size=500)
    sgd = epoch.OPTIMIZERS[optimizer]
    full = _train(*epoch._reference(dtype, sgd, input_grad=True), x, y)
    skipped = _train(*epoch._reference(dtype, sgd), x, y)
    assert full.keys() == skipped.keys()
    for key in full:
        assert full[key].dtype == dtype
        np.testing.assert_array_equal(skipped[key], full[key])


@pytest.mark.parametrize("input_grad", [False, True])
def test_the_reference_skips_the_input_gradient_unless_asked(input_grad):
    model, loss, _ = epoch._reference(np.float32, {}, input_grad=input_grad)
    x = np.ones((3, 784), np.float32)
    loss.forward(model.forward(x), np.array([0, 1, 2]))
    dx = model.backward(loss.backward())
    assert (dx is None) is not input_grad


def test_the_profile_accounts_for_the_whole_epoch():
    rng = np.random.default_rng(1)
    x, y = rng.random((300, 784), dtype=np.float32), rng.integers(10, size=300)
    rows = epoch.profile(x, y, np.float32)
    parts = [r["what"].split(": ", 1)[1] for r in rows]
    for part in ("Linear (784, 128) forward", "Linear (784, 128) backward", "ReLU backward", "SGD step",
                 "loss forward+backward", "batch gather x[idx]"):
        assert part in parts
    assert sum(int(r["share"].rstrip("%")) for r in rows) == pytest.approx(100, abs=len(rows))


@pytest.mark.parametrize("env, forced", [({}, False), ({"OPENBLAS_CORETYPE": "Haswell"}, True)])
def test_the_kernel_and_what_forced_it_are_named(monkeypatch, env, forced):
    for name in machine.FORCING:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    kernel = machine.numpy_kernel()
    assert "threads" in kernel and kernel.split()[0] in ("openblas", "mkl", "blis")
    assert ("forced by OPENBLAS_CORETYPE=Haswell" in kernel) is forced


def test_the_conv_section_times_every_side_it_names():
    from bench import conv
    ns = conv.reference()
    rng = np.random.default_rng(2)
    x, y = rng.random((200, 1, 28, 28), dtype=np.float32), rng.integers(10, size=200)
    rows = conv.conv_pool_rows(x, ns)
    assert [r["side"] for r in rows][:2] == ["reference (fast)", "Conv2dNaive loops (batch 5, x20)"]
    assert all(r["ms"] > 0 for r in rows)
    rows = conv.epoch_rows(x, y, ns, images=200)
    assert rows[0]["side"] == "reference CNN" and rows[0]["s/epoch"] > 0


def test_the_cnn_reference_first_conv_skips_only_dx():
    from bench import conv
    ns = conv.reference()
    x = np.random.default_rng(3).random((4, 2, 9, 8))
    grads = {}
    for told in (True, False):
        layer = ns["Conv2d"](2, 3, 3, stride=2, padding=1, rng=0)
        g = np.ones_like(layer.forward(x))
        layer.needs_input_grad = told
        grads[told] = (layer.backward(g), layer.dW, layer.db)
    assert grads[True][0].shape == x.shape and grads[False][0] is None
    for have, want in zip(grads[False][1:], grads[True][1:]):
        np.testing.assert_array_equal(have, want)


def test_a_run_keeps_the_other_sections_figures_and_skips_opt_in_ones(tmp_path, monkeypatch):
    """`make bench` runs every section but `course` (half an hour); naming one section keeps the rest of
    build/bench.json, so the course run and a full run can be made at different times."""
    import bench.__main__ as cli
    ran = []
    fake = {name: (lambda name=name: ran.append(name) or [{"what": name, "seconds": 1}])
            for name in ("epoch", "conv", "course")}
    monkeypatch.setattr(cli, "_sections", lambda: fake)
    monkeypatch.setattr(cli.machine, "describe", lambda: {"kernel": "test"})
    monkeypatch.chdir(tmp_path)
    assert cli.main([]) == 0 and ran == ["epoch", "conv"]
    assert cli.main(["course"]) == 0 and ran[-1] == "course"
    saved = json.loads((tmp_path / "build" / "bench.json").read_text())
    assert set(saved["sections"]) == set(saved["measured"]) == {"epoch", "conv", "course"}
