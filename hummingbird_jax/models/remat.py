"""Rematerialisation of a Flax submodule whose recomputation cannot run ahead of its backward step.

``nn.remat`` (``jax.checkpoint``) keeps a block's inputs and recomputes its activations in the
backward pass. The recomputation needs only those saved inputs, so nothing in the data flow stops a
scheduler from running it early; JAX ties it to the incoming cotangent with an optimisation barrier,
but XLA's CPU compiler deletes barriers *before* it schedules (GPU deletes them after). On CPU every
block's recomputation is then hoisted together and remat saves no memory at all.

:func:`remat_call` adds the missing data dependency: in the backward pass each saved non-parameter
residual gets ``0 · cotangent[0]`` added (exact for finite values; a float multiply by zero is not
folded by XLA because of NaN semantics), so recomputing a block can only start once its output
cotangent exists. The forward pass and the gradients are unchanged.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _call(module, *args):
    return module(*args)


def _after(value, zero):
    """``value`` made data-dependent on the scalar ``zero`` (which is 0)."""
    if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jnp.floating):
        return value + zero.astype(value.dtype)
    return value


def remat_call(module: nn.Module, policy: Any, *args):
    """``module(*args)`` under ``jax.checkpoint`` ``policy`` (``None``: a plain call), with the
    backward recomputation ordered after the output cotangent (see the module docstring)."""
    if policy is None:
        return module(*args)
    checkpointed = nn.checkpoint(_call, policy=policy, prevent_cse=True)
    tie = []  # per residual leaf: is it an activation (tied to the cotangent) rather than a parameter?

    def forward(mdl, *inputs):
        out, pullback = nn.vjp(checkpointed, mdl, *inputs)
        variables = {id(leaf) for leaf in jax.tree_util.tree_leaves(mdl.variables)}
        tie[:] = [id(leaf) not in variables for leaf in jax.tree_util.tree_leaves(pullback)]
        return out, pullback

    def backward(pullback, cotangent):
        first = jax.tree_util.tree_leaves(cotangent)[0]
        zero = first.reshape(-1)[0].astype(jnp.float32) * 0.0
        leaves, treedef = jax.tree_util.tree_flatten(pullback)
        leaves = [_after(leaf, zero) if tied else leaf for leaf, tied in zip(leaves, tie)]
        return jax.tree_util.tree_unflatten(treedef, leaves)(cotangent)

    return nn.custom_vjp(_call, forward_fn=forward, backward_fn=backward)(module, *args)
