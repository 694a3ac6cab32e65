"""The device mesh (``data`` × ``fsdp``) and how every array of a run is laid out on it.

Batches split over both axes. Parameters are sharded by their logical axis names (the U-Net's
``nn.Partitioned`` boxes: ``out`` → ``fsdp``, everything else replicated), so with ``fsdp=1`` the run
is plain data parallelism and with ``fsdp>1`` each device stores a slice of every large kernel.
Models without logical names (VAE, CLIP) shard their largest divisible dimension over ``fsdp``.
A dimension that does not divide by the axis size stays replicated rather than failing.
Optimizer moments and EMA copies take the sharding of the parameter they mirror.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXES = ("data", "fsdp")
LOGICAL_RULES = (("out", "fsdp"), ("in", None), ("kernel", None), ("norm", None))


def make_mesh(sizes, devices=None) -> Mesh:
    """Mesh from ``{'data': n, 'fsdp': m}``; one ``-1`` takes the devices left over."""
    devices = list(devices if devices is not None else jax.devices())
    data, fsdp = int(sizes.get("data", -1)), int(sizes.get("fsdp", 1))
    if data == -1 and fsdp == -1:
        raise ValueError("mesh: at most one of data/fsdp may be -1")
    if data == -1:
        data = len(devices) // max(fsdp, 1)
    if fsdp == -1:
        fsdp = len(devices) // max(data, 1)
    if 0 < data * fsdp < len(devices) and jax.process_count() == 1:
        devices = devices[: data * fsdp]  # explicit sizes on one host may use fewer devices than it has
    if data < 1 or fsdp < 1 or data * fsdp != len(devices):
        raise ValueError(f"mesh data={data} × fsdp={fsdp} does not use the {len(devices)} available devices")
    grid = np.asarray(devices).reshape(data, fsdp)
    return Mesh(grid, AXES)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def _fit(spec: tuple, shape: tuple, mesh: Mesh) -> PartitionSpec:
    """Drop mesh axes from dims they do not divide."""
    out = []
    for axis, dim in zip(tuple(spec) + (None,) * (len(shape) - len(spec)), shape):
        names = (axis,) if isinstance(axis, str) else tuple(axis or ())
        size = int(np.prod([mesh.shape[n] for n in names])) if names else 1
        out.append(axis if names and dim % size == 0 else None)
    return PartitionSpec(*out)


def logical_param_shardings(abstract_boxed: Any, mesh: Mesh, rules=LOGICAL_RULES) -> Any:
    """NamedShardings (unboxed tree) from ``nn.Partitioned`` logical axis names."""
    logical = nn.get_partition_spec(abstract_boxed)
    shapes = nn.unbox(abstract_boxed)

    table = dict(rules)

    def one(spec, shape):
        # A plain lookup rather than nn.logical_to_mesh_axes: conv kernels repeat the 'kernel' name.
        mesh_spec = [table.get(name) if name is not None else None for name in tuple(spec)]
        return NamedSharding(mesh, _fit(tuple(mesh_spec), tuple(shape.shape), mesh))

    return jax.tree_util.tree_map(one, logical, shapes, is_leaf=lambda x: isinstance(x, PartitionSpec))


def largest_dim_shardings(abstract: Any, mesh: Mesh, axis: str = "fsdp", min_size: int = 2**16) -> Any:
    """For trees without logical names: shard the largest dimension divisible by the axis size of
    every array with at least ``min_size`` elements; small arrays stay replicated."""
    size = mesh.shape[axis]

    def one(leaf):
        shape = tuple(leaf.shape)
        if size == 1 or int(np.prod(shape)) < min_size:
            return replicated(mesh)
        dims = sorted((d for d in range(len(shape)) if shape[d] % size == 0), key=lambda d: -shape[d])
        if not dims:
            return replicated(mesh)
        spec = [None] * len(shape)
        spec[dims[0]] = axis
        return NamedSharding(mesh, PartitionSpec(*spec))

    return jax.tree_util.tree_map(one, abstract)


def _dict_keys(path) -> tuple[str, ...]:
    return tuple(str(p.key) for p in path if isinstance(p, jax.tree_util.DictKey))


def shard_like(tree: Any, reference: Any, mesh: Mesh) -> Any:
    """Shardings for ``tree`` (abstract): a leaf whose trailing dict-key path and shape match a leaf
    of ``reference`` (a tree of ``(shape, sharding)`` pairs keyed like the params) takes its
    sharding (Adam moments, EMA copies); anything else (counts, scalars) is replicated."""
    table = {}
    for path, (shape, sharding) in jax.tree_util.tree_flatten_with_path(
            reference, is_leaf=lambda x: isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], NamedSharding))[0]:
        table[_dict_keys(path)] = (tuple(shape), sharding)

    def one(path, leaf):
        keys = _dict_keys(path)
        for start in range(len(keys)):
            hit = table.get(keys[start:])
            if hit is not None and hit[0] == tuple(leaf.shape):
                return hit[1]
        return replicated(mesh)

    return jax.tree_util.tree_map_with_path(one, tree)


def with_shapes(abstract: Any, shardings: Any) -> Any:
    """Pair every abstract leaf with its sharding (the ``reference`` of :func:`shard_like`)."""
    return jax.tree_util.tree_map(lambda a, s: (tuple(a.shape), s), abstract, shardings)
