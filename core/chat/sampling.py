"""Sampling with a generator of its own, so a chat reply never touches torch's global random state.

``transformers`` samples with ``torch.multinomial`` on the global generator, and seeding a reply
with ``torch.manual_seed`` would reset the state a training run in the same process relies on.
Instead generation runs greedy (``do_sample=False``) with one extra logits processor last in the
chain: it applies temperature, top-k and top-p as transformers does, draws the next token with its
own ``torch.Generator`` (seeded from the request, or from the OS when there is no seed) and leaves
only that token possible, so the greedy step picks it.
"""
from __future__ import annotations

from typing import Any


def local_sampler(temperature: float, top_p: float, top_k: int, seed: int | None,
                  device: Any) -> Any:
    """A ``LogitsProcessor`` that samples the next token with its own generator on ``device``.
    Pass it in ``logits_processor`` with ``do_sample=False``."""
    import torch
    from transformers import (
        LogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()  # from the OS: the global generator stays as it is
    else:
        generator.manual_seed(seed)
    # the same warpers, in the same order, as transformers applies when it samples
    warpers: list[Any] = []
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k:
        warpers.append(TopKLogitsWarper(top_k=top_k))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=top_p))

    class LocalSampler(LogitsProcessor):
        def __call__(self, input_ids, scores):
            for warp in warpers:
                scores = warp(input_ids, scores)
            picked = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)
            only = torch.full_like(scores, float("-inf"))
            return only.scatter_(1, picked, 0.0)

    return LocalSampler()
