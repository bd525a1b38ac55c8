"""The static scan names each way around the grader, and stays quiet on honest NumPy code."""

import textwrap

import nbformat
import pytest

from autograder.isolation import scan
from corpus.mlp import cases, solutions

REPO = scan.REPO_ROOT

# (snippet, the rule it must raise)
ATTACKS = [
    ("get_ipython().input_transformers_cleanup.append(lambda lines: lines)", "ipython-input-transformer"),
    ("ip = get_ipython()\nip.input_transformers_post.append(f)", "ipython-input-transformer"),
    ("get_ipython().ast_transformers.append(T())", "ipython-input-transformer"),
    ("get_ipython().events.register('post_run_cell', hook)", "ipython-event-hook"),
    ("shell.events.register(name, hook)", "ipython-event-hook"),
    ("def pre_run_cell(info):\n    pass", "ipython-event-hook"),
    ("get_ipython().set_custom_exc((AssertionError,), lambda *a: None)", "ipython-custom-exc"),
    ("ip.showtraceback = lambda *a, **k: None", "ipython-showtraceback"),
    ("get_ipython().run_cell('x = 1')", "ipython-run-cell"),
    ("get_ipython()", "ipython-api"),
    ("import sys\nsys.settrace(tracer)", "trace-hook"),
    ("import sys\nsys.setprofile(p)", "trace-hook"),
    ("import sys\nsys.excepthook = lambda *a: None", "excepthook"),
    ("class A:\n    def __eq__(self, other):\n        return True", "comparison-override"),
    ("class A:\n    __ne__ = lambda s, o: False", "comparison-override"),
    ("class A:\n    def __ge__(self, other):\n        return True", "comparison-override"),
    ("class A:\n    def __bool__(self):\n        return True", "conversion-override"),
    ("class A:\n    def __float__(self):\n        return 0.0", "conversion-override"),
    ("class A:\n    def __array_ufunc__(self, *a, **k):\n        return True", "numpy-protocol-override"),
    ("class Liar(float):\n    pass", "numeric-subclass"),
    ("class Liar(int):\n    pass", "numeric-subclass"),
    ("import numpy as np\nclass Liar(np.ndarray):\n    pass", "numeric-subclass"),
    ("from numpy import ndarray\nclass Liar(ndarray):\n    pass", "numeric-subclass"),
    ("import os\nos._exit(0)", "process-exit"),
    ("from os import _exit as bye\nbye(0)", "process-exit"),
    ("import sys\nsys.exit(0)", "process-exit"),
    ("exit()", "process-exit"),
    ("import os\nos.kill(os.getppid(), 9)", "process-control"),
    ("import signal\nsignal.alarm(1)", "signal"),
    ("import subprocess\nsubprocess.run(['ls'])", "subprocess"),
    ("from subprocess import check_output", "subprocess"),
    ("import os\nos.system('cat /etc/passwd')", "os-system"),
    ("import os\nos.execv('/bin/sh', ['sh'])", "os-system"),
    ("import os\npid = os.fork()", "fork"),
    ("import multiprocessing", "multiprocessing"),
    ("import sqlite3\nsqlite3.connect('gradebook.db')", "sqlite3"),
    ("import socket", "network"),
    ("import urllib.request", "network"),
    ("import ctypes\nctypes.pythonapi", "ctypes"),
    ("exec('x = 1')", "dynamic-code"),
    ("f = eval", "dynamic-code"),
    ("code = compile(src, 'x', 'exec')", "dynamic-code"),
    ("import base64\nexec(base64.b64decode('eD0x'))", "obfuscated-code"),
    ("import zlib\nexec(zlib.decompress(blob))", "obfuscated-code"),
    ("import codecs\neval(codecs.decode('cevag', 'rot13'))", "obfuscated-code"),
    ("exec(bytes.fromhex('783d31').decode())", "obfuscated-code"),
    ("os = __import__('os')", "dunder-import"),
    ("import importlib\nimportlib.import_module('os')", "importlib"),
    ("import builtins\nbuiltins.print = lambda *a: None", "builtins"),
    ("__builtins__.len = lambda x: 0", "builtins"),
    ("import numpy as np\nnp.allclose = lambda *a, **k: True", "monkeypatch"),
    ("import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None", "monkeypatch"),
    ("import numpy\nnumpy.isclose = lambda *a, **k: True", "monkeypatch"),
    ("import nnkit\nnnkit.gradcheck.check_module = fake", "monkeypatch"),
    ("from nnkit import Module\nModule.__call__ = fake", "monkeypatch"),
    ("import numpy as np\nsetattr(np, 'allclose', fake)", "setattr-module"),
    ("import nnkit\nsetattr(nnkit.selfcheck, 'verdict', fake)", "setattr-module"),
    ("open('/work/main/autograder/assignments/mlp/spec.py').read()", "path-outside-folder"),
    ("open('../other/submission.ipynb')", "path-outside-folder"),
    ("import numpy as np\nnp.load('/etc/answers.npy')", "path-outside-folder"),
    ("from pathlib import Path\nPath('~/.ssh').exists()", "path-outside-folder"),
    ("import gc\nobjs = gc.get_objects()", "gc"),
    ("import inspect\nf = inspect.currentframe().f_back", "frame-introspection"),
    ("import sys\ng = sys._getframe(1).f_globals", "frame-introspection"),
    ("f.__globals__['expected'] = 0", "frame-introspection"),
    ("import sys\nsys.modules['numpy'] = fake", "sys-modules"),
    ("globals()['np'] = fake", "namespace-tamper"),
    ("import os\nif os.environ.get('NNKIT_FAST'):\n    pass", "environment-probe"),
    ("import threading\nthreading.Timer(1, f).start()", "threads"),
    ("import atexit\natexit.register(f)", "atexit"),
    ("x.__class__ = Liar", "class-swap"),
    ("!cat /etc/passwd", "shell-escape"),
    ("files = !ls ..", "shell-escape"),
    ("%%bash\ncat /etc/passwd", "ipython-magic-bash"),
    ("%run ../../autograder/assignments/mlp/spec.py", "ipython-magic-run"),
    ("%%writefile helper.py\nimport os", "ipython-magic-writefile"),
    ("%%time\nimport os\nos._exit(0)", "process-exit"),
    # Cells that do not parse fall back to regular expressions.
    ("import os\nos._exit(0\nx = (", "process-exit"),
    ("np.zeros?\nget_ipython().events.register('post_run_cell', f", "ipython-event-hook"),
    ("def broken(:\nsys.settrace(f)", "trace-hook"),
    # A cell nested too deep for the parser or the visitor must not crash the scan.
    ("x = " + "+".join(["a"] * 100_000) + "\nimport os; os._exit(0)", "process-exit"),
    ("x = " + "-(" * 2000 + "1" + ")" * 2000 + "\nimport subprocess", "subprocess"),
]


@pytest.mark.parametrize("code, rule", ATTACKS, ids=[f"{i}-{r}" for i, (_, r) in enumerate(ATTACKS)])
def test_attack_is_found(code, rule):
    findings = scan.scan_source(code, "c1")
    assert rule in {f["rule"] for f in findings}, findings
    finding = next(f for f in findings if f["rule"] == rule)
    assert finding["cell_id"] == "c1" and 1 <= finding["line"] <= code.count("\n") + 1
    assert finding["excerpt"] == code.split("\n")[finding["line"] - 1].strip()


HONEST = [
    "import numpy as np\nimport nnkit\nfrom nnkit import Module, Sequential, Loss, Optimizer",
    textwrap.dedent("""
        class Linear(Module):
            param_names = ("W", "b")

            def __init__(self, in_features, out_features, init_std=0.01, rng=None):
                super().__init__()
                rng = nnkit.rng() if rng is None else np.random.default_rng(rng)
                self.W = rng.normal(0.0, init_std, size=(in_features, out_features))
                self.b = np.zeros(out_features)

            def forward(self, x):
                self.x = x
                return x @ self.W + self.b

            def backward(self, g):
                self.dW = self.x.T @ g
                self.db = g.sum(axis=0)
                return g @ self.W.T
    """),
    textwrap.dedent("""
        class Sigmoid(Module):
            def forward(self, x):
                out = np.empty_like(x, dtype=float)
                pos = x >= 0
                out[pos] = 1 / (1 + np.exp(-x[pos]))
                e = np.exp(x[~pos])
                out[~pos] = e / (1 + e)
                self.y = out
                return out

            def backward(self, g):
                return g * self.y * (1 - self.y)
    """),
    textwrap.dedent("""
        class SoftmaxCrossEntropyLoss(Loss):
            def forward(self, scores, labels):
                shifted = scores - scores.max(axis=1, keepdims=True)
                log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
                self.p = np.exp(log_p)
                self.labels = labels
                return float(-log_p[np.arange(len(labels)), labels].mean())

            def backward(self):
                g = self.p.copy()
                g[np.arange(len(self.labels)), self.labels] -= 1
                return g / len(self.labels)
    """),
    textwrap.dedent("""
        class SGD(Optimizer):
            def __init__(self, lr, momentum=0.0, weight_decay=0.0):
                self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
                self.v = {}

            def update(self, key, param, grad):
                v = self.v.get(key, np.zeros_like(param))
                v = self.momentum * v + (grad + self.weight_decay * param)
                self.v[key] = v
                return param - self.lr * v
    """),
    # ordinary notebook habits: timing, plotting, string formatting with %, comparisons
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])",
    "%%time\nhistory = nnkit.train(model, loss, opt, train=(x, y), epochs=1)",
    "%timeit np.dot(a, b)",
    "print('%d of %d' % (3, 4))\nok = (a\n      != b)\nr = (a\n     % 3)",
    "import re\npattern = re.compile(r'\\d+')",
    "from pathlib import Path\nPath('results').mkdir(exist_ok=True)\nnp.save('results/w.npy', W)",
    "data = nnkit.load_mnist()\nx, y = data['train']\nassert x.shape[1] == 784",
    "model.eval = False\nself.training = True\nlayer.W -= 0.1 * layer.dW",
    "import time\nstart = time.perf_counter()\nnp.random.seed(0)",
    "np.seterr(over='ignore')\nnp.set_printoptions(precision=3)",
    "def evaluate(model, x):\n    return (model(x).argmax(axis=1) == y).mean()",
    "class Tanh(Module):\n    def forward(self, x):\n        self.y = np.tanh(x)\n        return self.y",
    "open('notes.txt', 'w').write('done')",
]


@pytest.mark.parametrize("code", HONEST, ids=[f"honest-{i}" for i in range(len(HONEST))])
def test_honest_code_is_quiet(code):
    assert scan.scan_source(code) == []


def _corpus_cells():
    """The mlp corpus' honest cells: the plain solution, its mistakes and its valid variants."""
    cells = {f"plain/{part}": code for part, code in {"setup": solutions.SETUP, **solutions.SOLUTIONS}.items()}
    cells |= {f"{case.name}/{part}": code for case in cases.WRONG + cases.VALID
              for part, code in case.edits.items() if code}
    return cells


CORPUS = _corpus_cells()


# Corpus cells that are hostile on purpose, and the rules they must raise; every other
# corpus cell is an honest (right or wrong) answer and must raise none.
HOSTILE_CORPUS = {"sigmoid_kills_process/sigmoid": {"process-exit"}}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_cells(name):
    rules = {f["rule"] for f in scan.scan_source(CORPUS[name], name)}
    assert rules == HOSTILE_CORPUS.get(name, set())


SOURCES = sorted((REPO / "source").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", SOURCES, ids=[p.parent.name for p in SOURCES])
def test_source_notebooks_are_quiet(path):
    """Every cell the instructors wrote (solutions and tests) scans clean."""
    assert scan.scan_notebook(path) == []


def test_notebook_cells_ids_imports_and_flags(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom os import _exit"),
        nbformat.v4.new_markdown_cell("import os; os._exit(0) in markdown is only text"),
        nbformat.v4.new_code_cell("x = 1\nnp.allclose = lambda *a: True\n_exit(0)"),
    ]
    nb.cells[0].id, nb.cells[2].id = "setup", "linear"
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    findings = scan.scan_notebook(path)
    assert [(f["cell_id"], f["line"], f["rule"]) for f in findings] == [
        ("setup", 2, "process-exit"), ("linear", 2, "monkeypatch"), ("linear", 3, "process-exit")]
    assert scan.flags(findings) == ["suspicious: monkeypatch", "suspicious: process-exit"]


@pytest.mark.parametrize("assignment", [p.parent.name for p in SOURCES])
def test_released_locked_cells_are_skipped_but_edited_ones_are_not(assignment):
    source = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    locked = [c for c in source.cells if c.cell_type == "code"
              and c.metadata.get("nbgrader", {}).get("locked") and not c.metadata["nbgrader"].get("solution")]
    assert locked, f"{assignment} has no locked code cells"
    student = nbformat.v4.new_notebook()
    released = scan._HIDDEN.sub("", locked[0].source) + "\nimport os\nos._exit(0)"
    student.cells = [nbformat.v4.new_code_cell(scan._HIDDEN.sub("", c.source)) for c in locked]
    student.cells.append(nbformat.v4.new_code_cell(released))
    findings = scan.scan_notebook(student, assignment)
    assert {f["rule"] for f in findings} == {"process-exit"}



def test_unknown_assignment_scans_everything_loudly(capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nos._exit(0)")]
    findings = scan.scan_notebook(nb, "no-such-assignment")
    assert [f["rule"] for f in findings] == ["process-exit"]
    assert "WARNING" in capsys.readouterr().err
