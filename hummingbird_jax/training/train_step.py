"""Train state and the one jitted training step.

The state is a plain dict (Orbax saves and restores it as it is)::

    step       int32 ()        updates applied so far
    rng        uint32 (2,)     key data of the run's key; step s uses fold_in(key, s)
    params     trainable params (float32 master copy)
    base       non-trainable student params (empty unless LoRA / a regex subset is trained)
    opt_state  optax state
    ema        EMA of ``params`` (``None`` without EMA)
    nonfinite  int32 ()        steps skipped because the loss or a gradient was NaN/inf

Deriving each step's randomness from ``(key, step)`` makes a resumed run draw exactly what an
uninterrupted run draws.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

LossFn = Callable[[Any, Any, Any, jax.Array], tuple[jax.Array, dict]]


@dataclasses.dataclass(frozen=True)
class StepSettings:
    """What the step does besides the loss; its values come from the config (``optim.grad_accum``,
    ``ema.decay``), where their defaults live."""

    grad_accum: int
    ema_decay: float  # 0: no EMA
    ema_as_target: bool = False  # stage 2 with an EMA target: the loss reads frozen['target'] = state['ema']


def init_state(trainable, base, optimizer: optax.GradientTransformation, seed: int, ema: bool) -> dict:
    return {
        "step": jnp.zeros((), jnp.int32),
        "rng": jax.random.key_data(jax.random.key(seed)),
        "params": trainable,
        "base": base,
        "opt_state": optimizer.init(trainable),
        "ema": jax.tree_util.tree_map(jnp.copy, trainable) if ema else None,
        "nonfinite": jnp.zeros((), jnp.int32),
    }


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _micro_batches(batch: dict, n: int) -> dict:
    """``(b, …)`` → ``(n, b/n, …)`` taking rows ``j, j+n, j+2n, …`` for micro-batch ``j``, so each
    micro-batch spreads over all devices of a batch-sharded array."""
    def split(x):
        if x.shape[0] % n:
            raise ValueError(f"batch size {x.shape[0]} does not divide by optim.grad_accum={n}")
        return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)

    return jax.tree_util.tree_map(split, batch)


def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation, schedule: optax.Schedule,
                    settings: StepSettings) -> Callable[[dict, dict, dict], tuple[dict, dict]]:
    """``step(state, frozen, batch) -> (state, metrics)``; jit it with shardings and donate ``state``."""

    def grads_of(params, frozen, batch, rng):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, frozen, batch, rng)
        return loss, aux["metrics"], grads

    def step(state: dict, frozen: dict, batch: dict):
        rng = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
        frozen = dict(frozen, student_base=state["base"])
        if settings.ema_as_target:
            frozen["target"] = state["ema"]
        params = state["params"]
        if settings.grad_accum == 1:
            loss, metrics, grads = grads_of(params, frozen, batch, rng)
        else:
            micro = _micro_batches(batch, settings.grad_accum)

            def body(carry, xs):
                index, mb = xs
                loss, metrics, grads = grads_of(params, frozen, mb, jax.random.fold_in(rng, index))
                acc = jax.tree_util.tree_map(jnp.add, carry, (loss, metrics, grads))
                return acc, None

            zero = jax.eval_shape(grads_of, params, frozen, jax.tree_util.tree_map(lambda x: x[0], micro), rng)
            zero = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), zero)
            total, _ = jax.lax.scan(body, zero, (jnp.arange(settings.grad_accum), micro))
            loss, metrics, grads = jax.tree_util.tree_map(lambda x: x / settings.grad_accum, total)

        finite = jnp.isfinite(loss) & _all_finite(grads)
        updates, opt_state = optimizer.update(grads, state["opt_state"], params)
        new_params = optax.apply_updates(params, updates)
        new = dict(state, params=new_params, opt_state=opt_state, step=state["step"] + 1)
        if state["ema"] is not None:
            d = settings.ema_decay
            new["ema"] = jax.tree_util.tree_map(lambda e, p: d * e + (1.0 - d) * p, state["ema"], new_params)
        # NaN/inf guard: keep the old params, moments and EMA, count the skip, still advance the step
        # (the next step draws fresh noise and the next batch).
        # (One lax.cond over the whole tuple: a per-leaf jnp.where compiles several times slower on CPU.)
        names = ("params", "opt_state", "ema")
        kept = jax.lax.cond(finite, lambda: tuple(new[n] for n in names), lambda: tuple(state[n] for n in names))
        new.update(zip(names, kept))
        new["nonfinite"] = state["nonfinite"] + (~finite).astype(jnp.int32)
        metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads),
                       param_norm=optax.global_norm(new["params"]), lr=schedule(state["step"]),
                       skipped=(~finite).astype(jnp.float32), nonfinite_total=new["nonfinite"])
        return new, metrics

    return step
