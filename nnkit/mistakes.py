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


# The `optim` assignment's named mistakes: its self-checks print these, and its grader
# (autograder/assignments/optim/) reports them, so both name a mistake in the same words.
OPTIM = {
    "shared_state": "one state is shared by all parameters: keep the optimizer's state per key",
    "rms_eps_inside": "eps is inside the square root: divide by (√s + eps), not √(s + eps)",
    "rms_decay_swapped": "decay and (1 − decay) are swapped: s ← decay·s + (1 − decay)·g²",
    "rms_not_squared": "the running average must be of the squared gradient g², not of g",
    "adam_no_correction": "the moments are not bias-corrected: divide m by (1 − β1^t) and v by (1 − β2^t)",
    "adam_wrong_power": "the bias correction uses the wrong power: t is this key's number of steps, "
                        "1 at the first step (1 − β^t)",
    "adam_eps_inside": "eps is inside the square root: divide by (√v̂ + eps), not √(v̂ + eps)",
    "adam_shared_t": "one step counter is shared by all keys: each key counts its own steps t",
    "adam_betas_swapped": "β and (1 − β) are swapped: m ← β1·m + (1 − β1)·g",
    "adam_decay_ignored": "weight_decay is ignored: Adam adds weight_decay·θ to the gradient (L2)",
    "adamw_decay_in_gradient": "the weight decay went into the gradient (that is Adam with L2): AdamW subtracts "
                               "lr·weight_decay·θ from the parameter, outside m and v",
    "adamw_decay_no_lr": "the decoupled decay is not scaled by the learning rate: "
                         "θ ← θ − lr·(m̂/(√v̂ + eps) + weight_decay·θ)",
    "adamw_decay_ignored": "weight_decay is ignored: AdamW subtracts lr·weight_decay·θ from the parameter",
    "schedule_off_by_one": "off by one: the first step (t = 0) runs at the base rate, and the rate first "
                           "changes at t = step_size",
    "schedule_warmup_from_zero": "warm-up starts at 0: step t < warmup_steps runs at base_lr·(t + 1)/warmup_steps",
    "schedule_warmup_not_shifted": "the decay must start after the warm-up: it counts t − warmup_steps",
    "schedule_step_order": "step() returns the rate of the step about to be taken, then adds 1 to t",
    "schedule_cosine_not_clamped": "after total_steps the cosine schedule stays at min_lr",
    "l2_no_half": "the penalty is (λ/2)·Σ W², whose gradient is λ·W: a factor 2 is off",
    "l2_biases": "biases are not penalized: only the weight matrices W",
    "dropout_not_rescaled": "dropout is not rescaled: in training, divide the kept units by (1 − p) "
                            "(inverted dropout)",
    "dropout_eval_changed": "eval mode must return x unchanged (and pass the gradient through): "
                            "dropping and rescaling happen in training only",
    "dropout_keep_prob": "p is the probability of dropping a unit, not of keeping it",
    "dropout_backward_mask": "backward must use the mask of the last forward, with the same 1/(1 − p)",
    "dropout_same_mask": "every forward in training draws a fresh mask",
    "dropout_rng": "the mask must come from the layer's rng (the seed or Generator given to __init__): "
                   "the same seed gives the same mask",
    "bn_eval_batch_stats": "in eval mode BatchNorm uses the running statistics, not the batch's",
    "bn_running_not_updated": "the running statistics are not updated in training: "
                              "running ← (1 − momentum)·running + momentum·batch",
    "bn_momentum_swapped": "the running average's weights are swapped: "
                           "running ← (1 − momentum)·running + momentum·batch",
    "bn_unbiased_var": "the variance divides by N − 1: BatchNorm uses the batch variance with 1/N",
    "bn_backward_constant_stats": "backward in training treats the batch mean and variance as constants: "
                                  "they depend on x too",
    "bn_eps_outside": "eps belongs inside the square root: 1/√(var + eps)",
    "prelu_shared_not_summed": "a shared alpha (num_parameters = 1) has one gradient: sum dalpha over every feature",
    "prelu_dalpha_no_x": "dalpha is the sum of g·x where x ≤ 0: the factor x is missing",
    "prelu_at_zero": "at x = 0 the slope is alpha: the identity is for x > 0 only",
    "ckpt_pickle": "the checkpoint must load with np.load(path, allow_pickle=False): save plain arrays, one per name",
    "ckpt_params": "load_checkpoint does not restore the model's parameters",
    "ckpt_optimizer": "the checkpoint drops the optimizer state: save and restore m, v and t of every key",
    "ckpt_schedule": "the checkpoint drops the schedule's step: save and restore schedule.t",
    "ckpt_resume": "resuming from the checkpoint does not give the weights of the uninterrupted run bit for bit",
}
OPTIM.update({
    "aug_radians": "the angle is used as radians: convert degrees with math.radians first",
    "aug_clockwise": "the rotation goes the wrong way: positive degrees turn the digit counter-clockwise",
    "aug_shift_sign": "the shift has the wrong sign: a positive dy moves the digit down, a positive dx right",
    "aug_scale_inverted": "the scale is inverted: scale > 1 makes the digit larger (divide the coordinates by it)",
    "aug_border_clamped": "outside the image counts as 0: clamping to the edge pixels smears the border inwards",
    "aug_nearest": "the resampling is nearest-neighbour: it must be bilinear (the four neighbours, weighted)",
})


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


# ---------------------------------------------------------------- optimizer state and signatures
def velocity_not_zero(what: str = "the velocity") -> str:
    """Momentum's state that starts from something else than 0 (the gradient, the parameter, ones)."""
    return (f"{what} does not start at zero: a key starts with its own zero velocity "
            "(v = 0 before the key's first update)")


def default_changed(klass: str, name: str, contract) -> str:
    """A constructor's default that differs from the signature the assignment gives."""
    return (f"{klass}'s default {name} was changed: the assignment's signature has {name}={contract!r}, and "
            f"code that leaves {name} out must get that value")
