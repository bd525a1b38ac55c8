"""The per-epoch record of a training run, shared by the training loop and the plots."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class History:
    """Per-epoch record of a training run; every list has one entry per epoch.

    ``val_loss`` / ``val_acc`` stay empty when training had no validation set.
    ``seconds`` is the time of the training pass of each epoch (evaluation
    excluded).  ``fast`` says whether NNKIT_FAST shortened the run.
    """

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    fast: bool = False

    def __len__(self) -> int:
        return len(self.epochs)

    def best(self) -> dict:
        """The epoch with the highest validation accuracy (training accuracy
        when there is no validation set), as a dict of that epoch's values."""
        if not self.epochs:
            raise ValueError("the history is empty: no epoch finished")
        accs = self.val_acc if self.val_acc else self.train_acc
        i = int(np.nanargmax(np.asarray(accs, dtype=float)))
        row = {"epoch": self.epochs[i], "train_loss": self.train_loss[i],
               "train_acc": self.train_acc[i], "seconds": self.seconds[i]}
        if self.val_acc:
            row.update(val_loss=self.val_loss[i], val_acc=self.val_acc[i])
        return row

    def as_table(self) -> str:
        """A plain-text table, one row per epoch."""
        header = ["epoch", "train loss", "train acc"]
        if self.val_acc:
            header += ["val loss", "val acc"]
        header.append("seconds")
        rows = []
        for i, epoch in enumerate(self.epochs):
            row = [str(epoch), f"{self.train_loss[i]:.4f}", f"{self.train_acc[i]:.2%}"]
            if self.val_acc:
                row += [f"{self.val_loss[i]:.4f}", f"{self.val_acc[i]:.2%}"]
            row.append(f"{self.seconds[i]:.2f}")
            rows.append(row)
        widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [header] + rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_table()
