"""The one optimisation loop the toy world's own models share (judge, VAE, reward, teacher).

``loss(params, batch, key)`` is a pure function; ``batch_at(step)`` gives the step's batch (numpy or
jax arrays) and every random draw inside the loss comes from ``fold_in(key(seed), step)``, so a run is
a function of its seed and can resume from any step.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import optax


def fit(loss: Callable, params: Any, optimizer: optax.GradientTransformation, batch_at: Callable[[int], Any],
        steps: int, *, seed: int, desc: str, progress: bool = True, has_aux: bool = False, ema_decay: float = 0.0,
        ema: Any = None, start_step: int = 0, on_chunk: Callable | None = None,
        chunk: int = 0) -> tuple[Any, list[float]]:
    """Runs steps ``start_step .. steps-1`` of ``optimizer`` on ``loss`` and returns
    ``(params, history)``; the history holds the loss, or with ``has_aux`` the loss's scalar aux output.

    With ``ema_decay`` > 0 an exponential moving average of the params is kept (from ``ema`` when
    resuming) and returned as ``params``: a short run's average samples far better than its last step.
    ``on_chunk({'params', 'ema'}, step, history)`` is called every ``chunk`` steps (checkpoints for
    resuming; the optimizer state restarts on resume).
    """
    from tqdm.auto import tqdm

    opt_state = optimizer.init(params)
    key = jax.random.key(seed)
    ema = params if ema is None else ema

    @jax.jit
    def step(params, ema, opt_state, batch, step_key):
        value, grads = jax.value_and_grad(loss, has_aux=has_aux)(params, batch, step_key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        ema = optax.incremental_update(params, ema, 1.0 - ema_decay) if ema_decay > 0 else params
        return params, ema, opt_state, value[1] if has_aux else value

    history = []
    for i in tqdm(range(start_step, steps), desc=desc, initial=start_step, total=steps, disable=not progress):
        params, ema, opt_state, value = step(params, ema, opt_state, batch_at(i), jax.random.fold_in(key, i))
        history.append(float(value))
        if on_chunk is not None and chunk and (i + 1) % chunk == 0:
            on_chunk({"params": params, "ema": ema}, i + 1, history)
    return (ema if ema_decay > 0 else params), history
