"""The `backprop` corpus: submissions as edits of the source notebook's solution cells.

A case replaces text in one or more solution cells (``edit``: each old text must
be in the source, so the corpus fails loudly when the notebook changes) or gives
a whole new cell (``write``); the test builds each notebook from
source/backprop/backprop.ipynb at test time.

WRONG cases: one common mistake each; ``loses`` are exactly the parts that must
score less than full marks (partial credit per entry stays allowed: the part
still loses points), every other part full marks; ``words`` must appear in the
messages of the first part listed.  Where a mistake flows on through the chain
rule into later tables, those parts are listed too (that is what the mistake
costs).  VALID cases: right answers written differently; full marks everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SOURCE = Path(__file__).resolve().parents[3] / "source" / "backprop" / "backprop.ipynb"


@dataclass
class Case:
    name: str
    edits: dict = field(default_factory=dict)    # cell id -> [(old, new), ...] or a whole new source (str)
    loses: tuple = ()
    words: str = ""


def edit(cell: str, *pairs: tuple[str, str]) -> dict:
    return {cell: list(pairs)}


def apply(source: str, change) -> str:
    """A cell's new source: the whole text, or the source with each (old, new) replaced once."""
    if isinstance(change, str):
        return change
    for old, new in change:
        assert source.count(old) == 1, f"{old!r} is not (exactly once) in the source cell: the notebook changed"
        source = source.replace(old, new)
    return source


def build(cells: dict | None, out: Path, source: Path = SOURCE) -> Path:
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        cid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id")
        if cells and cid in cells:
            cell.source = apply(cell.source, cells[cid])
    nbformat.write(nb, out)
    return out


CE, STD, CD, RE = "ce-values", "std-values", "centered-difference", "relative-error"
STD_PARTS = ("std_forward", "std_local", "std_backward")

WRONG = [
    # ---- cross-entropy
    Case("ce_log10", edit(CE, ("-np.log(probabilities", "-np.log10(probabilities")),
         ("ce_normalized",), "log base 10"),
    Case("ce_plus_sign", edit(CE, ("float(-log_softmax[rows, labels].mean())",
                                   "float(log_softmax[rows, labels].mean())")),
         ("ce_softmax",), "MINUS"),
    Case("ce_normalized_over_samples", edit(CE, ("outputs.sum(axis=1, keepdims=True)",
                                                 "outputs.sum(axis=0, keepdims=True)")),
         ("ce_normalized",), "axis 0"),
    Case("ce_raw_outputs_as_probabilities", edit(CE, ("float(-log_softmax[rows, labels].mean())",
                                                      "float(-np.log(outputs[rows, labels]).mean())")),
         ("ce_softmax",), "raw outputs"),
    Case("ce_classes_as_indices", edit(CE, ("labels = classes - 1", "labels = classes")),
         ("ce_softmax", "ce_normalized"), "IndexError"),
    Case("ce_conventions_swapped", edit(CE, ("ce_softmax = float(", "ce_normalized = float("),
                                        ("ce_normalized = float(-np.log", "ce_softmax = float(-np.log")),
         ("ce_softmax", "ce_normalized"), "other convention"),
    # ---- the standard-deviation graph
    Case("std_sample_std", edit(STD, ("s = np.sqrt(v)", "s = np.std([x1, x2], ddof=1)")),
         STD_PARTS, "sample std"),
    Case("std_sum_not_mean", edit(STD, ("v = (q1 + q2) / 2", "v = q1 + q2")),
         STD_PARTS, "MEAN"),
    Case("std_local_sqrt_derivative", edit(STD, ('"ds/dv": 1 / (2 * s)', '"ds/dv": 1 / s')),
         ("std_local", "std_backward"), "1/(2√v)"),
    Case("std_local_sign_of_mean", edit(STD, ('"dd1/dm": -1.0', '"dd1/dm": 1.0')),
         ("std_local", "std_backward"), "∂d1/∂m = −1"),
    Case("std_forgot_second_path_through_mean",
         edit(STD, ('g["m"] = g["d1"] * std_local["dd1/dm"] + g["d2"] * std_local["dd2/dm"]',
                    'g["m"] = g["d2"] * std_local["dd2/dm"]')),
         ("std_backward",), "add the two contributions"),
    Case("std_left_unfilled", edit(STD, ('std_grad = g', 'std_grad = {**g, "x2": ...}')),
         ("std_backward",), "not filled in"),
    # ---- centered difference
    Case("cd_forward_difference", edit(CD, ("work[i] = old - h", "work[i] = old"),
                                       ("(up - down) / (2 * h)", "(up - down) / h")),
         ("centered_difference",), "forward difference"),
    Case("cd_divides_by_h", edit(CD, ("(up - down) / (2 * h)", "(up - down) / h")),
         ("centered_difference",), "divide by 2h"),
    Case("cd_fixed_step", edit(CD, ("work[i] = old + h", "work[i] = old + 1e-5"),
                               ("work[i] = old - h", "work[i] = old - 1e-5"),
                               ("(up - down) / (2 * h)", "(up - down) / (2 * 1e-5)")),
         ("centered_difference",), "use the h you are given"),
    Case("cd_perturbs_callers_x", edit(CD, ("work = x.copy()", "work = x"),
                                       ("        work[i] = old\n", "")),
         ("centered_difference",), "x was changed"),
    Case("cd_flat_result", edit(CD, ("    return grad", "    return grad.ravel()")),
         ("centered_difference",), "one derivative per entry"),
    # ---- relative error
    Case("re_per_entry", edit(RE, ("return float(np.max(np.abs(a - b)) / scale)",
                                   "scale = np.maximum(np.abs(a), np.abs(b))\n"
                                   "    nz = scale > 0\n"
                                   "    return float(np.max(np.abs(a - b)[nz] / scale[nz]))")),
         ("relative_error",), "not entry by entry"),
    Case("re_no_zero_guard", edit(RE, ("    if scale == 0:\n        return 0.0\n", "")),
         ("relative_error",), "both are zero"),
    # ---- more of the usual slips, each named by the judge (issue 9)
    Case("ce_log2", edit(CE, ("-np.log(probabilities", "-np.log2(probabilities")), ("ce_normalized",), "log base 2"),
    Case("std_local_sqrt_derivative_over_2v", edit(STD, ('"ds/dv": 1 / (2 * s)', '"ds/dv": 1 / (2 * v)')),
         ("std_local", "std_backward"), "not 1/(2v)"),
    Case("std_local_square_derivative_of_abs", edit(STD, ('"dq1/dd1": 2 * d1', '"dq1/dd1": 2 * abs(d1)')),
         ("std_local", "std_backward"), "d1 is negative here"),
    # s does not depend on m at x1 = -1, x2 = 3 (∂s/∂m = 0), so std_grad stays right
    Case("std_local_mean_derivative_one", edit(STD, ('"dm/dx1": 0.5', '"dm/dx1": 1.0')),
         ("std_local",), "∂m/∂x1 = 1/2"),
    Case("std_local_variance_derivative_one", edit(STD, ('"dv/dq1": 0.5', '"dv/dq1": 1.0')),
         ("std_local", "std_backward"), "∂v/∂q1 = 1/2"),
    Case("cd_perturbation_not_undone", edit(CD, ("        work[i] = old\n", "")),
         ("centered_difference",), "wrong values"),
    Case("re_sum_of_differences", edit(RE, ("np.max(np.abs(a - b))", "np.sum(np.abs(a - b))")),
         ("relative_error",), "max |a − b|"),
]

VALID = [
    Case("ce_logaddexp_reduce", edit(CE, ("log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
                                          "log_softmax = shifted - np.logaddexp.reduce(shifted, axis=1, keepdims=True)"))),
    Case("std_forward_with_np_std", edit(STD, ("s = np.sqrt(v)", "s = np.std([x1, x2])"))),
    Case("re_scale_from_one_array", edit(RE, ("scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))",
                                              "scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max(initial=0.0)"))),
    # The sum over the batch is the other accepted convention.
    Case("ce_sum_convention", edit(CE, ("float(-log_softmax[rows, labels].mean())",
                                        "float(-log_softmax[rows, labels].sum())"),
                                   ("-np.log(probabilities[rows, labels]).mean()",
                                    "-np.log(probabilities[rows, labels]).sum()"))),
    # Numbers typed in by hand: rounded cross-entropies, ints, no computation at all.
    Case("typed_by_hand", {
        CE: "ce_softmax = 0.849\nce_normalized = 0.5122\n",
        STD: ('std_forward = {"m": 1, "d1": -2, "d2": 2, "q1": 4, "q2": 4, "v": 4, "s": 2}\n'
              'std_local = {"dm/dx1": 0.5, "dm/dx2": 0.5, "dd1/dx1": 1, "dd1/dm": -1, "dd2/dx2": 1,\n'
              '             "dd2/dm": -1, "dq1/dd1": -4, "dq2/dd2": 4, "dv/dq1": 0.5, "dv/dq2": 0.5, "ds/dv": 0.25}\n'
              'std_grad = {"s": 1.0, "v": 0.25, "q1": 0.125, "q2": 0.125, "d1": -0.5, "d2": 0.5,\n'
              '            "m": 0, "x1": -0.5, "x2": 0.5}\n'),
    }),
    # Unshifted softmax, numpy scalars and 0-d arrays, np.std, a flat loop over shifted copies,
    # a relative error that returns np.float64.
    Case("numpy_all_the_way", {
        CE: ("p = np.exp(outputs) / np.exp(outputs).sum(axis=1, keepdims=True)\n"
             "ce_softmax = np.mean(-np.log(p[np.arange(3), classes - 1]))\n"
             "q = outputs / outputs.sum(axis=1)[:, None]\n"
             "ce_normalized = np.array(-np.log(np.choose(classes - 1, q.T)).mean())\n"),
        STD: ("xs = np.array([x1, x2])\n"
              "m = xs.mean(); d = xs - m; q = d ** 2; v = q.mean(); s = np.std(xs)\n"
              'std_forward = dict(m=m, d1=d[0], d2=d[1], q1=q[0], q2=q[1], v=v, s=s)\n'
              'std_local = {"dm/dx1": 1 / 2, "dm/dx2": 1 / 2, "dd1/dx1": 1, "dd1/dm": -1, "dd2/dx2": 1,\n'
              '             "dd2/dm": -1, "dq1/dd1": 2 * d[0], "dq2/dd2": 2 * d[1], "dv/dq1": 1 / 2,\n'
              '             "dv/dq2": 1 / 2, "ds/dv": 0.5 / np.sqrt(v)}\n'
              "# straight from the formula: ds/dx_i = (x_i - m) / (n s)\n"
              "gx = d / (2 * s)\n"
              'std_grad = {"s": 1.0, "v": 0.5 / s, "q1": 0.25 / s, "q2": 0.25 / s, "d1": d[0] / (2 * s),\n'
              '            "d2": d[1] / (2 * s), "m": -gx.sum(), "x1": gx[0], "x2": gx[1]}\n'),
        CD: ("def centered_difference(f, x, h=1e-5):\n"
             "    x = np.array(x, dtype=float)\n"
             "    grad = np.empty(x.size)\n"
             "    for k in range(x.size):\n"
             "        e = np.zeros(x.size)\n"
             "        e[k] = h\n"
             "        e = e.reshape(x.shape)\n"
             "        grad[k] = (f(x + e) - f(x - e)) / (2 * h)\n"
             "    return grad.reshape(x.shape)\n"),
        RE: ("def relative_error(a, b):\n"
             "    a, b = np.asarray(a, float), np.asarray(b, float)\n"
             "    denom = np.abs(np.concatenate([a.ravel(), b.ravel()])).max(initial=0)\n"
             "    return np.float64(0) if denom == 0 else np.abs(a - b).max() / denom\n"),
    }),
    # In-place perturbation of the caller's array, restored entry by entry: x ends unchanged.
    Case("perturb_in_place_and_restore",
         edit(CD, ("work = x.copy()  # perturb a copy: the caller's array stays untouched",
                   "work = x  # float64 already: perturbed and restored in place"))),
]

# ---- what the harness (tests/test_assignments.py) reads
CASES = WRONG + VALID
MINIMUM = (26, 7)
SECRETS = {"ce_softmax": (0.8489720, 2.5469160), "ce_normalized": (0.5121972, 1.5365915),
           "centered_difference": (12.01,)}
