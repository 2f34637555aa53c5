"""Dynamic prompts: variants, wildcards (txt, nested folders, YAML, JSON), random and combinatorial, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dynamicprompts.generators import RandomPromptGenerator
from dynamicprompts.wildcards import WildcardManager

from sfumato.prompt.dynamic import (
    MAX_COMBINATIONS,
    TemplateError,
    UnknownWildcard,
    is_template,
    resolve_combinatorial,
    resolve_random,
    template_info,
)
from sfumato.prompt.request import expand_recipe
from sfumato.recipe import Recipe


@pytest.fixture
def wildcards(tmp_path: Path) -> Path:
    """An sd-dynamic-prompts wildcards folder: a nested .txt, a top-level .txt, a YAML and a JSON file."""
    folder = tmp_path / "wildcards"
    (folder / "colors").mkdir(parents=True)
    (folder / "colors" / "warm.txt").write_text("red\ncrimson\n# a comment line\namber\n", encoding="utf-8")
    (folder / "animals.txt").write_text("owl\nheron\n__colors/warm__ fox\n", encoding="utf-8")
    (folder / "places.yaml").write_text("places:\n  city:\n    - busy street\n    - rooftop\n", encoding="utf-8")
    (folder / "moods.json").write_text(json.dumps({"moods": ["cozy", "happy"]}), encoding="utf-8")
    return folder


def test_random_mode_draws_picture_i_from_its_own_seed(wildcards: Path) -> None:
    template = "a {red|green|blue|gold|pink} {owl|cat|fox|heron|otter}"
    batch = resolve_random(template, [100, 101, 102, 103], wildcards)
    assert batch == resolve_random(template, [100, 101, 102, 103], wildcards)  # the same seeds, the same prompts
    # Each picture's prompt depends only on its own seed, so one picture can be drawn again alone.
    assert [resolve_random(template, [seed], wildcards)[0] for seed in (100, 101, 102, 103)] == batch
    # The sd-dynamic-prompts extension's rule, with the library directly: seed the generator per picture.
    reference = RandomPromptGenerator(WildcardManager(wildcards), seed=100)
    assert reference.generate(template, 4, seeds=[100, 101, 102, 103]) == batch
    assert len(set(resolve_random(template, list(range(40)), wildcards))) > 5


def test_pick_several_and_wildcards_from_every_file_kind(wildcards: Path) -> None:
    for text in resolve_random("{2$$a|b|c}", list(range(10)), wildcards):
        first, second = text.split(",")
        assert first != second and {first, second} <= {"a", "b", "c"}
    prompts = resolve_random("__animals__ in a __places/city__, __moods__", list(range(30)), wildcards)
    animals = {p.split(" in a ")[0] for p in prompts}
    assert animals <= {"owl", "heron", "red fox", "crimson fox", "amber fox"} and len(animals) >= 3
    assert {p.split(" in a ")[1].split(",")[0] for p in prompts} == {"busy street", "rooftop"}
    assert {p.rsplit(", ", 1)[1] for p in prompts} == {"cozy", "happy"}
    assert "# a comment line" not in " ".join(resolve_random("__colors/warm__", list(range(20)), wildcards))


def test_combinatorial_lists_every_combination(wildcards: Path) -> None:
    assert resolve_combinatorial("a {red|blue} {owl|cat}", wildcards) == [
        "a red owl", "a red cat", "a blue owl", "a blue cat"]
    assert sorted(resolve_combinatorial("__colors/warm__", wildcards)) == ["amber", "crimson", "red"]
    with pytest.raises(TemplateError, match=f"more than {MAX_COMBINATIONS} combinations"):
        resolve_combinatorial("{a|b|c|d|e|f|g|h|i|j}" * 4, wildcards)


def test_plain_prompts_are_not_templates() -> None:
    # The library reads '#' as a comment and '$$' specially; a prompt without { or __ is never passed to it.
    for text in ["an owl, #1 fan", "cost $$ 5", "a (red:1.2) [cat:dog:0.5] [a|b] AND b :0.5", "word+ (x)++", ""]:
        assert not is_template(text)
    assert is_template("a {red|blue} owl") and is_template("__animals__")


def test_unknown_wildcard_names_it_the_folder_and_the_column(wildcards: Path) -> None:
    with pytest.raises(UnknownWildcard) as caught:
        resolve_random("an owl, __colours/warm__", [1], wildcards)
    error = caught.value
    assert "'__colours/warm__'" in error.message and str(wildcards) in error.message
    assert error.column == 8 and "at column 9" in error.message
    assert error.exit_code == 2 and error.http_status == 422
    assert "__colors/warm__" in (error.hint or "")  # what there is, to spot the typo
    # Combinatorial mode checks before sampling (the library would never finish), inside variants too.
    with pytest.raises(UnknownWildcard, match="__nope__"):
        resolve_combinatorial("{owl|__nope__}", wildcards)


def test_unknown_wildcard_inside_another_wildcard_file(wildcards: Path) -> None:
    (wildcards / "broken.txt").write_text("a __missing__ thing\n", encoding="utf-8")
    with pytest.raises(UnknownWildcard, match="'__missing__' \\(named inside another wildcard's values\\)"):
        resolve_combinatorial("x __broken__", wildcards)
    with pytest.raises(UnknownWildcard, match="__missing__"):
        resolve_random("x __broken__", [3], wildcards)


def test_unreadable_template_points_at_the_column(wildcards: Path) -> None:
    with pytest.raises(TemplateError) as caught:
        resolve_random("a {red|blue owl", [1], wildcards)
    assert caught.value.column == 2 and caught.value.field == "prompt"


def test_template_recipe_expands_into_one_recipe_per_picture(wildcards: Path) -> None:
    recipe = Recipe(prompt="a {red|green|blue|gold} __animals__", negative_prompt="blurry", seed=41,
                    batch_size=2, batch_count=2)
    pictures = expand_recipe(recipe, mode="random", wildcards=wildcards)
    assert [p.seed for p in pictures] == [41, 42, 43, 44]
    assert all(p.batch_size == p.batch_count == 1 for p in pictures)
    assert all(p.prompt_template == recipe.prompt and p.negative_prompt_template is None for p in pictures)
    assert [p.prompt for p in pictures] == resolve_random(recipe.prompt, [41, 42, 43, 44], wildcards)
    assert all(p.negative_prompt == "blurry" for p in pictures)
    plain = Recipe(prompt="an owl", batch_size=3)
    assert expand_recipe(plain, mode="random", wildcards=wildcards) == [plain]  # batches stay batches


def test_negative_template_and_combinatorial_cross_product(wildcards: Path) -> None:
    recipe = Recipe(prompt="a {red|blue} owl", negative_prompt="{blurry|noisy}", seed=7)
    pictures = expand_recipe(recipe, mode="combinatorial", wildcards=wildcards)
    assert [(p.prompt, p.negative_prompt) for p in pictures] == [
        ("a red owl", "blurry"), ("a red owl", "noisy"), ("a blue owl", "blurry"), ("a blue owl", "noisy")]
    assert [p.seed for p in pictures] == [7, 8, 9, 10]
    assert pictures[0].negative_prompt_template == "{blurry|noisy}"
    twice = expand_recipe(recipe.replace(batch_count=2), mode="combinatorial", wildcards=wildcards)
    assert len(twice) == 8 and twice[4].prompt == "a red owl" and twice[4].seed == 11


def test_template_info_for_parse_and_explain(wildcards: Path) -> None:
    info = template_info("a {red|blue} __colors/warm__", wildcards)
    assert info is not None and info.combinations == 6 and info.first == "a red amber"
    assert template_info("plain", wildcards) is None
