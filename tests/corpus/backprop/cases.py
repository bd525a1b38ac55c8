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

# ---- what the harness (tests/test_assignments.py) reads: CASES and MINIMUM at the end, and
SECRETS = {"ce_softmax": (0.8489720, 2.5469160), "ce_normalized": (0.5121972, 1.5365915),
           "centered_difference": (12.01,)}

# ---- issue 9: more of the usual slips (the course reports' hand calculations of a batch's cross-entropy and
# of the std graph, and the usual numerical-gradient code), each lost with the words that name it
CE_PLAIN = """p_soft = np.exp(outputs) / np.exp(outputs).sum(axis=1, keepdims=True)
p_norm = outputs / outputs.sum(axis=1, keepdims=True)
rows, labels = np.arange(3), classes - 1
t = np.eye(3)[labels]
ce_softmax = float(-np.log(p_soft[rows, labels]).mean())
ce_normalized = float(-np.log(p_norm[rows, labels]).mean())
"""
SOFT = "ce_softmax = float(-np.log(p_soft[rows, labels]).mean())"
NORM = "ce_normalized = float(-np.log(p_norm[rows, labels]).mean())"


def ce(old: str, new: str) -> dict:
    assert CE_PLAIN.count(old) == 1, old
    return {CE: CE_PLAIN.replace(old, new)}


CD_ROWS = """def centered_difference(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    work = x.copy()
    grad = np.zeros_like(work)
    for i in range(len(work)):
        old = work[i].copy()
        work[i] = old + h
        up = f(work)
        work[i] = old - h
        down = f(work)
        work[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad
"""
CD_ALL_AT_ONCE = """def centered_difference(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        grad[i] = (f(x + h) - f(x - h)) / (2 * h)
    return grad
"""
RE_RETURN = "return float(np.max(np.abs(a - b)) / scale)"
RE_SCALE = "scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))"

WRONG += [
    # ---- cross-entropy
    Case("ce_softmax_log10", ce(SOFT, SOFT.replace("np.log", "np.log10")), ("ce_softmax",), "log base 10"),
    Case("ce_softmax_log2", ce(SOFT, SOFT.replace("np.log", "np.log2")), ("ce_softmax",), "log base 2"),
    Case("ce_every_entry", ce(SOFT, "ce_softmax = float(-np.log(p_soft).mean())"), ("ce_softmax",), "every entry"),
    Case("ce_binary_form", ce(SOFT, "ce_softmax = float(-(t * np.log(p_soft) + (1 - t) * np.log(1 - p_soft))"
                                    ".sum(axis=1).mean())"), ("ce_softmax",), "binary cross-entropy"),
    Case("ce_divided_by_every_entry", ce(SOFT, "ce_softmax = float(-(t * np.log(p_soft)).mean())"),
         ("ce_softmax",), "divided by N·K"),
    Case("ce_exp_not_normalized", ce(SOFT, "ce_softmax = float(-np.log(np.exp(outputs)[rows, labels]).mean())"),
         ("ce_softmax",), "just −y"),
    Case("ce_first_sample_only", ce(SOFT, "ce_softmax = float(-np.log(p_soft[0, labels[0]]))"),
         ("ce_softmax",), "first sample's loss alone"),
    Case("ce_normalized_minus_missing", ce(NORM, NORM.replace("float(-np.log", "float(np.log")),
         ("ce_normalized",), "MINUS"),
    Case("ce_rounded_by_hand", ce(SOFT, "ce_softmax = 0.85"), ("ce_softmax",), "do not round by hand"),
    Case("ce_left_none", ce(SOFT, "ce_softmax = None"), ("ce_softmax",), "assign a float"),
    Case("ce_as_text", ce(SOFT, 'ce_softmax = "0.849"'), ("ce_softmax",), "assign a float"),
    Case("ce_per_sample_array", ce(SOFT, "ce_softmax = -np.log(p_soft[rows, labels])"),
         ("ce_softmax",), "average the per-sample losses"),
    Case("ce_softmax_over_samples", ce("np.exp(outputs).sum(axis=1, keepdims=True)",
                                       "np.exp(outputs).sum(axis=0, keepdims=True)"), ("ce_softmax",), "axis 0"),
    Case("ce_normalized_log_of_mean", ce(NORM, "ce_normalized = float(-np.log(p_norm[rows, labels].mean()))"),
         ("ce_normalized",), "−log of the mean probability"),
    # ---- the std graph (a slip early in the graph costs the later tables too: that is the chain rule)
    Case("std_deviation_sign", edit(STD, ("d1, d2 = x1 - m, x2 - m", "d1, d2 = m - x1, m - x2")),
         STD_PARTS, "not m − x1"),
    Case("std_mean_as_sum", edit(STD, ("m = (x1 + x2) / 2", "m = x1 + x2")), STD_PARTS, "m is the MEAN"),
    Case("std_absolute_not_square", edit(STD, ("q1, q2 = d1 ** 2, d2 ** 2", "q1, q2 = abs(d1), abs(d2)")),
         STD_PARTS, "not its absolute value"),
    Case("std_square_root_missing", edit(STD, ("s = np.sqrt(v)", "s = v")), STD_PARTS, "the square root is missing"),
    Case("std_local_square_without_2", edit(STD, ('"dq1/dd1": 2 * d1', '"dq1/dd1": d1')),
         ("std_local", "std_backward"), "factor 2 is missing"),
    Case("std_local_sqrt_of_s", edit(STD, ('"ds/dv": 1 / (2 * s)', '"ds/dv": 1 / (2 * np.sqrt(s))')),
         ("std_local", "std_backward"), "not 1/(2√s)"),
    Case("std_local_sign_of_mean_d2", edit(STD, ('"dd2/dm": -1.0', '"dd2/dm": 1.0')),
         ("std_local", "std_backward"), "∂d2/∂m = −1"),
    Case("std_local_variance_derivative_q2", edit(STD, ('"dv/dq2": 0.5', '"dv/dq2": 1.0')),
         ("std_local", "std_backward"), "∂v/∂q2 = 1/2"),
    # ∂s/∂m = 0 at x1 = -1, x2 = 3: a wrong ∂m/∂x2 does not reach std_grad
    Case("std_local_mean_derivative_x2", edit(STD, ('"dm/dx2": 0.5', '"dm/dx2": 1.0')),
         ("std_local",), "∂m/∂x2 = 1/2"),
    Case("std_grad_local_gradient_missing", edit(STD, ('g["q1"] = g["v"] * std_local["dv/dq1"]', 'g["q1"] = g["v"]')),
         ("std_backward",), "the local gradient is missing"),
    Case("std_grad_divides_by_local", edit(STD, ('g["d2"] = g["q2"] * std_local["dq2/dd2"]',
                                                  'g["d2"] = g["q2"] / std_local["dq2/dd2"]')),
         ("std_backward",), "divided by the local gradient"),
    Case("std_grad_sign_flipped", edit(STD, ('g["v"] = g["s"] * std_local["ds/dv"]',
                                             'g["v"] = -g["s"] * std_local["ds/dv"]')),
         ("std_backward",), "the sign is flipped"),
    Case("std_forward_left_unfilled", edit(STD, ('"v": v, "s": s}', '"v": v, "s": ...}')),
         ("std_forward",), "not filled in"),
    # the backward pass multiplies by the `...` left in std_local: the cell stops, std_grad stays the template
    Case("std_local_left_unfilled", edit(STD, ('"ds/dv": 1 / (2 * s)}', '"ds/dv": ...}')),
         ("std_local", "std_backward"), "stopped with TypeError"),
    # ---- centered difference
    Case("cd_backward_difference", edit(CD, ("work[i] = old + h", "work[i] = old"),
                                        ("(up - down) / (2 * h)", "(up - down) / h")),
         ("centered_difference",), "backward difference"),
    Case("cd_operator_precedence", edit(CD, ("(up - down) / (2 * h)", "(up - down) / 2 * h")),
         ("centered_difference",), "operator precedence"),
    Case("cd_every_entry_at_once", {CD: CD_ALL_AT_ONCE}, ("centered_difference",), "one entry at a time"),
    Case("cd_loop_over_rows", {CD: CD_ROWS}, ("centered_difference",), "not over range(len(x))"),
    # ---- relative error
    Case("re_norm_based", edit(RE, (RE_RETURN, "return float(np.linalg.norm(a - b) / "
                                               "(np.linalg.norm(a) + np.linalg.norm(b)))")),
         ("relative_error",), "norm-based ratio"),
    Case("re_sum_of_scales", edit(RE, (RE_SCALE, "scale = np.max(np.abs(a), initial=0.0) + "
                                                 "np.max(np.abs(b), initial=0.0)")),
         ("relative_error",), "the scale is the sum"),
    Case("re_scale_from_a_only", edit(RE, (RE_SCALE, "scale = np.max(np.abs(a), initial=0.0)")),
         ("relative_error",), "taken from a only"),
    Case("re_mean_difference", edit(RE, ("np.max(np.abs(a - b))", "np.mean(np.abs(a - b))")),
         ("relative_error",), "the mean difference"),
    Case("re_no_absolute_value", edit(RE, ("np.max(np.abs(a - b))", "np.max(a - b)")),
         ("relative_error",), "without the absolute value"),
]

VALID += [
    Case("ce_onehot_matrix", {CE: CE_PLAIN.replace(SOFT, "ce_softmax = float(-(t * np.log(p_soft)).sum(axis=1).mean())")
                              .replace(NORM, "ce_normalized = float(np.mean(-np.sum(t * np.log(p_norm), axis=1)))")}),
    Case("ce_python_loops", {CE: (
        "import math\n"
        "soft, norm = [], []\n"
        "for row, c in zip(outputs.tolist(), classes.tolist()):\n"
        "    z = sum(math.exp(v) for v in row)\n"
        "    soft.append(-math.log(math.exp(row[c - 1]) / z))\n"
        "    norm.append(-math.log(row[c - 1] / sum(row)))\n"
        "ce_softmax = sum(soft) / len(soft)\n"
        "ce_normalized = sum(norm) / len(norm)\n")}),
    Case("ce_float32", {CE: CE_PLAIN.replace("p_soft = np.exp(outputs)", "o32 = outputs.astype(np.float32)\n"
                                             "p_soft = np.exp(o32)").replace("/ np.exp(outputs)", "/ np.exp(o32)")
                        .replace("p_norm = outputs / outputs.sum", "p_norm = o32 / o32.sum")
                        .replace("float(-np.log", "np.float32(-np.log")}),
    # the gradient w.r.t. the inputs by centered differences, the inner nodes by the chain rule
    Case("std_grad_numerically", edit(STD, (
        'g["x1"] = g["d1"] * std_local["dd1/dx1"] + g["m"] * std_local["dm/dx1"]\n'
        'g["x2"] = g["d2"] * std_local["dd2/dx2"] + g["m"] * std_local["dm/dx2"]',
        'std_of = lambda a, b: np.sqrt(((a - (a + b) / 2) ** 2 + (b - (a + b) / 2) ** 2) / 2)\n'
        'g["x1"] = (std_of(x1 + 1e-6, x2) - std_of(x1 - 1e-6, x2)) / 2e-6\n'
        'g["x2"] = (std_of(x1, x2 + 1e-6) - std_of(x1, x2 - 1e-6)) / 2e-6'))),
    Case("std_float32", edit(STD, ("m = (x1 + x2) / 2", "x1, x2 = np.float32(x1), np.float32(x2)\nm = (x1 + x2) / 2"))),
    Case("cd_flat_view", {CD: (
        "def centered_difference(f, x, h=1e-5):\n"
        "    x = np.array(x, dtype=float)      # our own copy\n"
        "    flat = x.reshape(-1)              # a view of it: writing flat[k] perturbs x\n"
        "    grad = np.empty_like(flat)\n"
        "    for k in range(flat.size):\n"
        "        keep = flat[k]\n"
        "        flat[k] = keep + h\n"
        "        up = f(x)\n"
        "        flat[k] = keep - h\n"
        "        down = f(x)\n"
        "        flat[k] = keep\n"
        "        grad[k] = (up - down) / (2 * h)\n"
        "    return grad.reshape(x.shape)\n")}),
    Case("cd_itertools_product", {CD: (
        "import itertools\n\n\n"
        "def centered_difference(f, x, h=1e-5):\n"
        "    x = np.asarray(x, dtype=np.float64)\n"
        "    grad = np.zeros(x.shape)\n"
        "    for idx in itertools.product(*[range(n) for n in x.shape]):\n"
        "        step = np.zeros(x.shape)\n"
        "        step[idx] = h\n"
        "        grad[idx] = (f(x + step) - f(x - step)) / (2 * h)\n"
        "    return grad\n")}),
    Case("re_python_builtins", {RE: (
        "def relative_error(a, b):\n"
        "    a = np.asarray(a, dtype=float).ravel().tolist()\n"
        "    b = np.asarray(b, dtype=float).ravel().tolist()\n"
        "    scale = max([abs(v) for v in a + b], default=0.0)\n"
        "    if scale == 0:\n"
        "        return 0.0\n"
        "    return max(abs(p - q) for p, q in zip(a, b)) / scale\n")}),
]

CASES = WRONG + VALID
MINIMUM = (63, 15)
