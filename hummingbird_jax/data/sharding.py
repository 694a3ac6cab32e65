"""Host batches → global ``jax.Array`` s on a mesh, split along the batch axis.

Every process loads only its own rows (the loaders shard by process); this stitches the per-process
pieces into one global array per field, sharded over the mesh axes that carry the batch (by default
``('data', 'fsdp')``: plain data parallelism and the FSDP axis both split the batch).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def batch_sharding(mesh, batch_axes: Sequence[str] | str | None = ("data", "fsdp")):
    """``NamedSharding`` splitting dimension 0 over ``batch_axes`` (those present in ``mesh``).

    ``batch_axes`` may also be a full ``PartitionSpec``, used as it is.
    """
    from jax.sharding import NamedSharding, PartitionSpec

    if isinstance(batch_axes, PartitionSpec):
        return NamedSharding(mesh, batch_axes)
    if batch_axes is None:
        return NamedSharding(mesh, PartitionSpec())
    axes = (batch_axes,) if isinstance(batch_axes, str) else tuple(batch_axes)
    unknown = [a for a in axes if a not in mesh.axis_names]
    if len(unknown) == len(axes):
        raise ValueError(f"none of the batch axes {axes} is a mesh axis {mesh.axis_names}")
    axes = tuple(a for a in axes if a in mesh.axis_names)
    return NamedSharding(mesh, PartitionSpec(axes if len(axes) > 1 else axes[0]))


def put_batch_on_mesh(
    batch: dict[str, Any],
    mesh,
    batch_axes: Sequence[str] | str | None = ("data", "fsdp"),
) -> dict[str, Any]:
    """Numeric fields of this process's ``batch`` → global arrays sharded along dim 0.

    The global batch size is ``process_count × local batch``; the local batch must divide evenly
    over this process's devices on the batch axes. Text fields (``text``, ``path``, string columns)
    stay as numpy arrays on the host: they are for logging, not for the jitted step.
    """
    import jax

    sharding = batch_sharding(mesh, batch_axes)
    out: dict[str, Any] = {}
    for name, value in batch.items():
        array = np.asarray(value)
        if array.dtype.kind not in "biuf" or array.ndim == 0:
            out[name] = value
            continue
        try:
            out[name] = jax.make_array_from_process_local_data(sharding, array)
        except ValueError as err:
            raise ValueError(
                f"batch field {name!r} with local shape {array.shape} cannot be split over mesh axes "
                f"{sharding.spec} of {dict(mesh.shape)}: {err}"
            ) from err
    return out
