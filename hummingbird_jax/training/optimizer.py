"""AdamW with gradient clipping and a learning-rate schedule, from the ``optim`` config section.

``mu_dtype='bfloat16'`` keeps Adam's first moment in bf16 (half its memory); the second moment stays
float32, because squared gradients of the size seen late in training underflow bf16's 8-bit mantissa
range of useful steps.
"""

from __future__ import annotations

import optax

SCHEDULES = ("constant", "warmup_constant", "warmup_cosine")


def learning_rate_schedule(c, total_steps: int) -> optax.Schedule:
    """``constant``, ``warmup_constant`` (linear warm-up then flat) or ``warmup_cosine`` (to 0 at the end)."""
    lr, warmup, kind = float(c.lr), int(c.warmup_steps), c.schedule
    if kind == "constant":
        return optax.constant_schedule(lr)
    if kind == "warmup_constant":
        return optax.join_schedules([optax.linear_schedule(0.0, lr, max(warmup, 1)), optax.constant_schedule(lr)],
                                    [max(warmup, 1)])
    if kind == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(0.0, lr, max(warmup, 1), max(total_steps, warmup + 1))
    raise ValueError(f"optim.schedule = {kind!r}; expected one of {SCHEDULES}")


def make_optimizer(c, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """``clip_by_global_norm(clip) → adamw(schedule, b1, b2, eps, weight_decay)``."""
    schedule = learning_rate_schedule(c, total_steps)
    mu_dtype = c.mu_dtype
    if mu_dtype not in ("float32", "bfloat16"):
        raise ValueError(f"optim.mu_dtype = {mu_dtype!r}; expected float32 or bfloat16")
    parts = []
    if float(c.clip) > 0:
        parts.append(optax.clip_by_global_norm(float(c.clip)))
    parts.append(optax.adamw(schedule, b1=float(c.b1), b2=float(c.b2), eps=float(c.eps),
                             weight_decay=float(c.weight_decay), mu_dtype=mu_dtype))
    return optax.chain(*parts), schedule
