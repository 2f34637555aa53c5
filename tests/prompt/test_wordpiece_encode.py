"""The embedded model's MiniLM encoder through the prompt stage: plain text as in training, weights applied."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sfumato.errors import RecipeError
from sfumato.models.minilm import encode_captions, load_minilm
from sfumato.prompt.schedule import build_conditioning_schedule


@pytest.fixture(scope="module")
def pipe() -> SimpleNamespace:
    torch.set_num_threads(1)
    encoder, tokenizer = load_minilm(max_tokens=32)
    return SimpleNamespace(tokenizer=tokenizer, text_encoder=encoder, config=SimpleNamespace())


def test_plain_prompt_matches_training_encoding(pipe: SimpleNamespace) -> None:
    schedule = build_conditioning_schedule(pipe, "a cat face, twemoji style", "", 10)
    embeds = schedule.at_step(0).positives[0][0].embeds
    expected = encode_captions(pipe.text_encoder, pipe.tokenizer, ["a cat face, twemoji style"])
    assert embeds.shape == (1, 32, 384)
    torch.testing.assert_close(embeds.float(), expected, rtol=0, atol=0)


def test_weights_change_only_the_weighted_tokens_direction(pipe: SimpleNamespace) -> None:
    plain = build_conditioning_schedule(pipe, "a cat face, twemoji style", "", 10).at_step(0).positives[0][0].embeds
    weighted = build_conditioning_schedule(pipe, "a (cat face:1.5), twemoji style", "", 10)
    states = weighted.at_step(0).positives[0][0].embeds
    assert not torch.equal(plain, states)
    unit = build_conditioning_schedule(pipe, "a (cat face:1.0), twemoji style", "", 10).at_step(0).positives[0][0]
    torch.testing.assert_close(unit.embeds, plain)  # weight 1 everywhere == the plain prompt


def test_prompt_editing_switches_text(pipe: SimpleNamespace) -> None:
    schedule = build_conditioning_schedule(pipe, "a [cat:dog:0.5] face", "", 10)
    assert schedule.changes_between_steps
    assert not torch.equal(schedule.at_step(0).positives[0][0].embeds, schedule.at_step(9).positives[0][0].embeds)


def test_clip_skip_and_compel_are_refused(pipe: SimpleNamespace) -> None:
    with pytest.raises(RecipeError, match="clip_skip 2"):
        build_conditioning_schedule(pipe, "a cat", "", 10, clip_skip=2)
    with pytest.raises(RecipeError, match="Compel syntax needs a CLIP"):
        build_conditioning_schedule(pipe, "a cat++", "", 10)


def test_words_past_the_window_are_named_in_a_warning(pipe: SimpleNamespace) -> None:
    assert build_conditioning_schedule(pipe, "a cat face, twemoji style", "", 10).warnings == ()
    long_prompt = "a cat face, " + ", ".join(f"extra{n}" for n in range(15)) + ", sparkling unicorn"
    (warning,) = build_conditioning_schedule(pipe, long_prompt, "", 10).warnings
    assert warning.startswith("prompt: this model reads 30 tokens;") and "sparkling unicorn" in warning
    (negative,) = build_conditioning_schedule(pipe, "a cat", long_prompt, 10).warnings
    assert negative.startswith("negative prompt:")
