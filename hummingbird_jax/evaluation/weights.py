"""The user's weight directory: which file each dimension needs, checked before anything loads."""

from __future__ import annotations

import os

from hummingbird_jax.errors import UserError

__all__ = ["MissingWeightsError", "check_weights"]


class MissingWeightsError(UserError, FileNotFoundError):
    """A weight file the asked dimensions need is not in the weights directory."""


def check_weights(weights_dir: str | None, dimensions) -> None:
    """One-line error naming every missing file and the dimensions that need it."""
    needed: dict[str, list[str]] = {}
    for dim in dimensions:
        for name in dim.needs:
            needed.setdefault(name, []).append(dim.name)
    if not needed:
        return
    if weights_dir is None:
        raise MissingWeightsError("--weights DIR is needed for " + ", ".join(
            f"{name} ({', '.join(dims)})" for name, dims in needed.items()))
    missing = {n: d for n, d in needed.items() if not os.path.isfile(os.path.join(weights_dir, n))}
    if missing:
        raise MissingWeightsError(f"missing in {weights_dir}: " + "; ".join(
            f"{name} (needed by {', '.join(dims)})" for name, dims in missing.items()))
