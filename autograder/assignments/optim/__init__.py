"""The `optim` assignment: optimizers, schedules, regularization, PReLU, checkpoints, best MLP."""
