"""Live previews: keep the sampler's latest estimate of the finished picture (x0) for a cheap decode.

diffusers pipelines do not pass the scheduler's `pred_original_sample` to step callbacks, so the fresh
scheduler of one batch gets its `step` observed: the result is passed through untouched.
"""

from __future__ import annotations

from typing import Any

import torch


class X0Estimates:
    """The most recent x0 estimate a scheduler produced, or None when it gives none."""

    def __init__(self) -> None:
        self.latest: torch.Tensor | None = None

    @classmethod
    def observe(cls, scheduler: Any) -> X0Estimates:
        estimates = cls()
        step = scheduler.step

        def observed_step(*args: Any, **kwargs: Any) -> Any:
            result = step(*args, **kwargs)
            estimates.latest = _estimate(scheduler, result)
            return result

        scheduler.step = observed_step  # this scheduler instance belongs to one batch only
        return estimates


def _estimate(scheduler: Any, result: Any) -> torch.Tensor | None:
    # Euler, Euler a, DDIM, LMS, Heun, LCM, DDPM... return (prev_sample, pred_original_sample).
    if isinstance(result, tuple) and len(result) > 1 and isinstance(result[1], torch.Tensor):
        return result[1]
    x0 = getattr(result, "pred_original_sample", None)
    if isinstance(x0, torch.Tensor):
        return x0
    # Multistep DPM-Solver++ / UniPC keep their data (x0) predictions in model_outputs.
    outputs = [o for o in getattr(scheduler, "model_outputs", []) or [] if isinstance(o, torch.Tensor)]
    data_prediction = getattr(scheduler.config, "algorithm_type", "dpmsolver++") in ("dpmsolver++", "sde-dpmsolver++") \
        or getattr(scheduler.config, "predict_x0", False)
    return outputs[-1] if outputs and data_prediction else None
