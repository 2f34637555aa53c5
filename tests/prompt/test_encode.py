"""Conditioning on tiny real pipelines: Compel agrees on unweighted prompts, emphasis, padding, SDXL, schedules."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from compel import Compel, ReturnedEmbeddingsType
from hypothesis import given, settings
from hypothesis import strategies as st

from sfumato.models.families import Family
from sfumato.models.tiny import build_tiny_pipeline
from sfumato.prompt.encode import PromptComponents, encode_fragments
from sfumato.prompt.schedule import build_conditioning_schedule


@pytest.fixture(scope="module")
def sd1() -> Any:
    torch.set_num_threads(1)
    return build_tiny_pipeline(Family.SD1)


@pytest.fixture(scope="module")
def sdxl() -> Any:
    torch.set_num_threads(1)
    return build_tiny_pipeline(Family.SDXL)


def _plain(pipe: Any, text: str) -> torch.Tensor:
    schedule = build_conditioning_schedule(pipe, text, "", 10, syntax="a1111")
    return schedule.at_step(0).positives[0][0].embeds


@torch.no_grad()
def test_unweighted_prompt_matches_compel_sd1(sd1: Any) -> None:
    expected = Compel(tokenizer=sd1.tokenizer, text_encoder=sd1.text_encoder)("a red cat on a mat, photo")
    assert torch.equal(_plain(sd1, "a red cat on a mat, photo"), expected)


@torch.no_grad()
def test_unweighted_prompt_matches_compel_sdxl(sdxl: Any) -> None:
    text = "a red cat on a mat"
    schedule = build_conditioning_schedule(sdxl, text, "", 10, syntax="a1111")
    ours = schedule.at_step(0).positives[0][0]
    kind = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED
    left = Compel(tokenizer=sdxl.tokenizer, text_encoder=sdxl.text_encoder, returned_embeddings_type=kind)(text)
    right, pooled = Compel(tokenizer=sdxl.tokenizer_2, text_encoder=sdxl.text_encoder_2, returned_embeddings_type=kind,
                           requires_pooled=True)(text)
    assert ours.embeds.shape == (1, 77, 96)
    torch.testing.assert_close(ours.embeds, torch.cat([left, right], dim=-1))
    torch.testing.assert_close(ours.pooled, pooled)
    assert torch.count_nonzero(schedule.at_step(0).negative.embeds) == 0  # SDXL: empty negative -> zeros


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(["a", "red", "cat", "on", "mat", ",", "blue sky"]), min_size=1, max_size=6))
def test_weights_of_one_equal_the_plain_prompt(sd1: Any, words: list[str]) -> None:
    components = PromptComponents.from_pipeline(sd1)
    with torch.no_grad():
        plain = encode_fragments(components, ((" ".join(words), 1.0),)).embeds
        split = encode_fragments(components, tuple((w + " ", 1.0) for w in words)).embeds
        bracketed = _plain(sd1, "(" + " ".join(words) + ":1)")
    torch.testing.assert_close(split, plain)
    torch.testing.assert_close(bracketed, plain)


@torch.no_grad()
def test_emphasis_scales_the_token_and_keeps_the_mean(sd1: Any) -> None:
    plain, weighted = _plain(sd1, "a red cat"), _plain(sd1, "a (red:1.5) cat")
    assert not torch.allclose(plain, weighted)
    torch.testing.assert_close(weighted.mean(), plain.mean())


@torch.no_grad()
def test_long_prompt_and_break_concatenate_chunks_and_pad_the_negative(sd1: Any) -> None:
    schedule = build_conditioning_schedule(sd1, "a cat BREAK a dog", "blurry", 10)
    step = schedule.at_step(0)
    assert step.positives[0][0].embeds.shape == (1, 154, 32)
    assert step.negative.embeds.shape == (1, 154, 32)
    # The negative's second chunk is the empty prompt's chunk.
    torch.testing.assert_close(step.negative.embeds[:, 77:], schedule.empty.embeds)


@torch.no_grad()
def test_schedule_switches_at_a1111_steps(sd1: Any) -> None:
    schedule = build_conditioning_schedule(sd1, "a [cat:dog:0.5] AND a bird :0.5", "", 10)
    assert not schedule.is_static
    first, second = schedule.positive
    assert second.weight == 0.5 and [e.end_at_step for e in first.entries] == [5, 10]
    cat, dog = _plain(sd1, "a cat"), _plain(sd1, "a dog")
    # A1111 compares the 0-based sampler step with end_at_step: steps 0..5 use the first text.
    assert torch.equal(schedule.at_step(5).positives[0][0].embeds, cat)
    assert torch.equal(schedule.at_step(6).positives[0][0].embeds, dog)


@torch.no_grad()
def test_compel_prompt_is_encoded_by_compel(sd1: Any) -> None:
    schedule = build_conditioning_schedule(sd1, "a cat++ on a mat", "", 10)
    assert schedule.parsed.syntax == "compel" and schedule.is_static
    expected = Compel(tokenizer=sd1.tokenizer, text_encoder=sd1.text_encoder, truncate_long_prompts=False)(
        "a cat++ on a mat")
    torch.testing.assert_close(schedule.at_step(0).positives[0][0].embeds, expected)


def test_clip_skip_two_differs_and_sd2_pads_with_zero_id() -> None:
    torch.set_num_threads(1)
    pipe = build_tiny_pipeline(Family.SD2_V)
    with torch.no_grad():
        last = build_conditioning_schedule(pipe, "a cat", "", 10).at_step(0).positives[0][0].embeds
        skip = build_conditioning_schedule(pipe, "a cat", "", 10, clip_skip=2).at_step(0).positives[0][0].embeds
        reference = pipe.text_encoder(pipe.tokenizer("a cat", padding="max_length", return_tensors="pt").input_ids)[0]
    torch.testing.assert_close(last, reference)
    assert not torch.allclose(last, skip)
