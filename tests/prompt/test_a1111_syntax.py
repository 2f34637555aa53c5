"""A1111 syntax beyond the doctests: schedules, BREAK, AND weights, extra-network tags, errors with a caret."""

from __future__ import annotations

import pytest

from sfumato.errors import RecipeError
from sfumato.prompt.a1111 import get_multicond_prompt_list, parse_extra_networks, parse_prompt_attention
from sfumato.prompt.a1111_schedule import get_learned_conditioning_prompt_schedules
from sfumato.prompt.errors import PromptError
from sfumato.prompt.parse import parse_prompt


def g(prompt: str, steps: int = 10) -> list[list[int | str]]:
    return get_learned_conditioning_prompt_schedules([prompt], steps)[0]


def test_edit_forms_fraction_and_integer() -> None:
    assert g("[a:b:0.5]") == [[5, "a"], [10, "b"]]
    assert g("[a:b:3]") == [[3, "a"], [10, "b"]]
    assert g("[a::0.5]") == [[5, "a"], [10, ""]]
    assert g("[:b:0.5]") == [[5, ""], [10, "b"]]
    assert g("[a:b:1.0]") == [[10, "a"]]  # "1.0" is a fraction: the whole run
    assert g("[a:b:1]") == [[1, "a"], [10, "b"]]  # "1" is step 1
    assert g("[a:b:0]") == [[10, "b"]]
    assert g("[a:b:1e999]") == [[10, "a"]]  # A1111 crashes on int(inf); here it is clamped


def test_alternation_inside_an_edit_still_counts_every_step() -> None:
    assert g("[[a|b]:c:3]") == [[1, "a"], [2, "b"], [3, "a"]] + [[i, "c"] for i in range(4, 11)]


def test_break_and_brackets_around_it() -> None:
    assert parse_prompt_attention("a BREAK b") == [["a", 1.0], ["BREAK", -1.0], ["b", 1.0]]
    # Inside brackets the BREAK marker is weighted too, so A1111 then tokenizes it as a word.
    assert parse_prompt_attention("(a BREAK b)")[1] == ["BREAK", -1.1]


def test_and_with_weights() -> None:
    indexes, flat, _ = get_multicond_prompt_list(["a cat AND a dog :0.5 AND a cat"])
    assert flat == ["a cat", " a dog", " a cat"]  # trailing spaces go, leading stay
    assert indexes == [[(0, 1.0), (1, 0.5), (2, 1.0)]]


def test_extra_network_tags_are_taken_out() -> None:
    text, found = parse_extra_networks("a <lora:film:0.6> cat <hypernet:x:1> <lyco:y:0.2:0.4>")
    assert text == "a  cat  "
    assert found == {"lora": [["film", "0.6"]], "hypernet": [["x", "1"]], "lyco": [["y", "0.2", "0.4"]]}
    parsed = parse_prompt("a <lora:film:0.6> cat <lyco:y> <lora:z:te=0.3>", steps=20)
    assert [(a.kind, a.name, a.weight) for a in parsed.adapters] == [("lora", "film", 0.6), ("lora", "y", 1.0),
                                                                     ("lora", "z", 0.3)]


def test_negative_prompt_keeps_and_and_tags_as_text() -> None:
    parsed = parse_prompt("ugly AND blurry <lora:x:1>", steps=20, negative=True)
    assert len(parsed.sub_prompts) == 1 and parsed.adapters == ()
    assert parsed.warnings and "negative" in parsed.warnings[0]


@pytest.mark.parametrize(("text", "column"), [("a (cat:1,2)", 7), ("a (cat:1.2.3)", 7), ("x <lora:film:abc>", 13)])
def test_a_weight_that_is_not_a_number_points_at_it(text: str, column: int) -> None:
    with pytest.raises(PromptError) as raised:
        parse_prompt(text, steps=20)
    error = raised.value
    assert isinstance(error, RecipeError) and error.field == "prompt" and error.column == column
    caret_line = str(error).splitlines()[2]
    assert caret_line.index("^") - 2 == column


def test_attention_raises_where_a1111_crashes() -> None:
    with pytest.raises(PromptError):
        parse_prompt_attention("(cat:1.2.3)")
    assert parse_prompt_attention("cat:1.2.3)") == [["cat:1.2.3)", 1.0]]  # no open bracket: text, as A1111


def test_unbalanced_brackets_are_lenient_with_a_warning() -> None:
    parsed = parse_prompt("a ((cat] dog)", steps=20)
    assert parsed.sub_prompts[0].schedule[0].fragments[0] == ("a ", 1.0)
    assert any("never closed" in w for w in parsed.warnings)
    assert any("closes nothing" in w for w in parsed.warnings)
