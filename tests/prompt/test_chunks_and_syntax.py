"""Chunking into 75-token windows (BREAK, the comma backtrack) and telling Compel prompts from A1111 ones."""

from __future__ import annotations

from typing import Any

import pytest

from sfumato.models.tiny import load_clip_tokenizer
from sfumato.prompt.chunks import chunk_fragments
from sfumato.prompt.compel_syntax import detect_syntax, parse_compel


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return load_clip_tokenizer()


def test_short_prompt_is_one_padded_chunk(tokenizer: Any) -> None:
    chunks, count = chunk_fragments((("a cat", 1.0), ("red", 1.5)), tokenizer)
    assert count == 3 and len(chunks) == 1
    tokens = chunks[0].tokens
    assert len(tokens) == 77 and tokens[0] == tokenizer.bos_token_id and set(tokens[4:]) == {tokenizer.eos_token_id}
    assert chunks[0].multipliers[1:4] == (1.0, 1.0, 1.5)


def test_break_starts_a_new_chunk(tokenizer: Any) -> None:
    chunks, _ = chunk_fragments((("a", 1.0), ("BREAK", -1.0), ("b", 1.0)), tokenizer)
    assert len(chunks) == 2 and chunks[1].tokens[1] == tokenizer.convert_tokens_to_ids("b</w>")


def test_a_full_chunk_moves_the_words_after_its_last_comma(tokenizer: Any) -> None:
    # 70 words, a comma, then 10 words: the 76th token arrives 5 after the comma, within the 20 allowed.
    text = "cat " * 70 + ", " + "dog " * 10
    chunks, _ = chunk_fragments(((text, 1.0),), tokenizer)
    dog = tokenizer.convert_tokens_to_ids("dog</w>")
    assert len(chunks) == 2
    assert chunks[0].tokens[72] == tokenizer.eos_token_id  # after the comma: padding
    assert chunks[1].tokens[1:11] == (dog,) * 10 and chunks[1].moved == 4


def test_no_comma_nearby_splits_at_75(tokenizer: Any) -> None:
    chunks, count = chunk_fragments((("cat " * 80, 1.0),), tokenizer)
    assert [c.tokens.count(tokenizer.convert_tokens_to_ids("cat</w>")) for c in chunks] == [75, 5] and count == 80


@pytest.mark.parametrize(("text", "syntax"), [
    ("a cat on a mat", "a1111"),
    ("a cat++ on a mat", "compel"),
    ("a cat- on a mat", "compel"),
    ("(a red cat)1.3", "compel"),
    ("(a red cat)++", "compel"),
    ('("a cat", "a dog").blend(0.5, 0.5)', "compel"),
    ("a sci-fi city", "a1111"),
    ("(a red cat:1.3)", "a1111"),
    ("a cat++ [dog]", "a1111"),  # an A1111-only bracket wins
    ("a cat AND a dog", "a1111"),
])
def test_detect_syntax(text: str, syntax: str) -> None:
    assert detect_syntax(text) == syntax


def test_compel_parse_uses_compel_weights() -> None:
    parts, combine = parse_compel("a cat++ (on a mat)1.3 dog-")
    assert combine == "concatenate"
    assert parts[0].fragments == (("a", 1.0), ("cat", pytest.approx(1.21)), ("on a mat", 1.3), ("dog", 0.9))
    parts, combine = parse_compel('("a cat", "a dog").blend(0.3, 0.7)')
    assert combine == "blend" and [p.weight for p in parts] == [0.3, 0.7]
    parts, _ = parse_compel('a "cat".swap("dog")')
    assert parts[0].notes and "swap" in parts[0].notes[0]
