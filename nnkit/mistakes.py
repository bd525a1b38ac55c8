"""The words for the common mistakes of a gradient or an output, in one place.

The self-checks a student runs (``nnkit.gradcheck``, ``nnkit.selfcheck``) and the
grader's feedback both word a mistake with these functions, so "N times too large",
"transposed" or "wrong sign" read the same in the notebook and in the grade.
``what`` names the array (``"dW"``, ``"the loss gradient"``); shapes are passed as
text so that the grader can name sizes symbolically (``"(N, out)"``).
"""
from __future__ import annotations


def transposed(what: str, got_shape=None, expected_shape=None) -> str:
    """A square array that is transposed keeps its shape: then no shapes are given."""
    if got_shape is None or got_shape == expected_shape:
        return f"{what} is transposed"
    return f"{what} is transposed: shape {got_shape} instead of {expected_shape}"


def wrong_shape(what: str, got_shape, expected_shape) -> str:
    return f"{what} has shape {got_shape} but should have shape {expected_shape}"


def wrong_sign(what: str) -> str:
    return f"{what} has the wrong sign"


def not_finite(what: str, kind: str = "nan or inf") -> str:
    return f"{what} contains {kind}"


def all_zeros(what: str, reference: str = "the expected one") -> str:
    return f"{what} is all zeros but {reference} is not"


def _batch(n: int | None) -> str:
    return "N = batch size" + (f" = {n}" if n else "")


def n_times_too_large(what: str, n: int | None = None) -> str:
    return f"{what} is N times too large ({_batch(n)}): did you forget to average over the batch?"


def n_times_too_small(what: str, n: int | None = None) -> str:
    return (f"{what} is N times too small ({_batch(n)}): the batch average is taken only once, "
            "in the loss; don't divide by N again")


def constant_factor(what: str, factor: float) -> str:
    return f"{what} is off by a constant factor ({factor:.3g}x)"


def scale(what: str, factor: float, batch: int | None = None, *, name_batch: bool = False) -> str:
    """``what`` equals ``factor`` times the right answer: which mistake that is.
    ``name_batch``: say the batch size's value (the notebook knows it; the grader keeps its inputs secret)."""
    n = batch if name_batch else None
    if abs(factor) < 1e-12:
        return all_zeros(what)
    table = [(-1.0, wrong_sign(what))]
    if batch and batch > 1:
        table += [(float(batch), n_times_too_large(what, n)), (1.0 / batch, n_times_too_small(what, n)),
                  (-float(batch), f"{wrong_sign(what)}, and {n_times_too_large('it', n)}")]
    table += [(2.0, f"{what} is 2x too large: did you forget the 1/2?"),
              (0.5, f"{what} is half what it should be: is there an extra 1/2?")]
    for value, message in table:
        if abs(factor - value) <= 1e-3 * abs(value):
            return message
    return constant_factor(what, factor)


def numerical_trouble(what: str, detail) -> str:
    """An overflow, a division by zero or an invalid value where the contract promises none."""
    return (f"{what}: numerical trouble ({detail}) — something overflows or divides by zero; "
            "use a numerically stable form (e.g. subtract the row maximum before exp, "
            "or exp(-|x|) for a sigmoid)")


# Which array a method changed in place -> what to do instead.
_IN_PLACE = {
    "x": "forward changed its input array in place — compute a new array (e.g. np.maximum(x, 0)) "
         "instead of assigning into x",
    "scores": "forward changed the scores array in place — write e.g. `s = scores - m` instead of `scores -= m`",
    "g": "backward changed the upstream gradient in place — compute a new array (e.g. g * mask) "
         "instead of assigning into it",
}


def changed_in_place(array: str) -> str:
    """``array``: "x" (a layer's input), "scores" (a loss's input) or "g" (the upstream gradient)."""
    return _IN_PLACE[array]


# ---------------------------------------------------------------- convolution and pooling
# ``what`` names the array ("Conv2d.forward", "dx", "db").

def kernel_flipped(what: str) -> str:
    return (f"{what} flips the kernel (a true convolution): this layer is a cross-correlation, "
            "it slides W over x as it is")


def output_size(what: str, got_shape, expected_shape) -> str:
    return (f"{what} has shape {got_shape} but should have shape {expected_shape}: the output size is "
            "(H + 2·padding − kernel_size) // stride + 1")


def padding_wrong(what: str) -> str:
    return f"{what} pads x by the wrong amount: `padding` rows and columns of zeros on every side"


def padding_left_in(what: str, got_shape=None, expected_shape=None) -> str:
    shapes = f" (shape {got_shape} instead of {expected_shape})" if got_shape is not None else ""
    return f"{what} still includes the zero padding{shapes}: crop it off, back to x's shape"


def not_summed_over(what: str, over: str) -> str:
    return f"{what} is not summed over {over}"


def pool_gradient_everywhere(what: str) -> str:
    return f"{what} sends the gradient to every position of the pooling window: only its maximum gets it"


def pool_ties_to_all(what: str) -> str:
    return (f"{what} sends a window's gradient to every tied maximum: by the tie rule only the first "
            "maximum (row by row) gets it")


def flatten_order(what: str) -> str:
    return f"{what} does not undo forward's order: backward must reshape in the order forward flattened"


def channels_last(what: str) -> str:
    return f"{what} treats x as channels-last (N, H, W, C); the layout here is (N, C, H, W)"


def stride_ignored(what: str) -> str:
    return f"{what} ignores the stride: window (i, j) starts at row stride·i and column stride·j"


def pool_tie_rule(what: str) -> str:
    return (f"{what} breaks ties another way: by the tie rule only the first maximum of a window "
            "(row by row) gets its gradient")
