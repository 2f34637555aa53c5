"""Grid axis value syntax (A1111's xyz_grid): CSV lists, ranges with steps and counts, names, templates."""

from __future__ import annotations

import pytest

from sfumato.errors import BadInput
from sfumato.explore.axes import parse_axis, parse_values, split_values
from sfumato.explore.grid import expand_template, place_axes


@pytest.mark.parametrize(("text", "kind", "expected"), [
    ("1, 2, 3", "int", (1, 2, 3)),
    ("1-5", "int", (1, 2, 3, 4, 5)),
    ("1-10 (+2)", "int", (1, 3, 5, 7, 9)),
    ("1-10 [5]", "int", (1, 3, 5, 7, 10)),  # numpy.linspace(1, 10, 5) cut to int, as A1111
    ("10-1 (-3)", "int", (10, 7, 4, 1)),
    ("5-3", "int", (5, 4, 3)),
    ("-1, 7", "int", (-1, 7)),
    ("1-3, 8, 20-22", "int", (1, 2, 3, 8, 20, 21, 22)),
    ("5-7 (+0.5)", "float", (5.0, 5.5, 6.0, 6.5, 7.0)),
    ("1-10 (+2)", "float", (1.0, 3.0, 5.0, 7.0, 9.0)),  # A1111 also gives 11.0 here; we stop at the end
    ("0-1 [5]", "float", (0.0, 0.25, 0.5, 0.75, 1.0)),
    ("0.1, 0.7", "float", (0.1, 0.7)),
    ('Euler a, "DPM++ 2M", "a, b"', "str", ("Euler a", "DPM++ 2M", "a, b")),
])
def test_values_parse_like_a1111(text: str, kind: str, expected: tuple[object, ...]) -> None:
    values = parse_values(text, kind, axis="test")  # type: ignore[arg-type]
    assert values == pytest.approx(expected) if kind == "float" else values == expected
    assert all(type(value).__name__ == kind for value in values)


def test_csv_splitting_drops_blanks_and_keeps_quoted_commas() -> None:
    assert split_values(' cat , ,"dog, big",fox ') == ["cat", "dog, big", "fox"]


def test_axis_names_labels_and_random_seeds() -> None:
    seeds = parse_axis("seed: 1, -1, 3", random_seed=lambda: 42)
    assert seeds.values == (1, 42, 3) and seeds.labels == ("Seed: 1", "Seed: 42", "Seed: 3")
    sampler = parse_axis("Sampler: Euler a, DPM++ 2M")
    assert sampler.labels == ("Euler a", "DPM++ 2M")
    assert parse_axis("CFG Scale: 5-7 [3]").labels == ("CFG Scale: 5.0", "CFG Scale: 6.0", "CFG Scale: 7.0")
    assert parse_axis("width: 32, 48").spec.label == "width"  # any Recipe field with a plain value
    assert parse_axis("adapter ink: 0.5, 1").labels == ("ink weight: 0.5", "ink weight: 1.0")


@pytest.mark.parametrize(("text", "message"), [
    ("seed 1,2", "NAME: VALUES"),
    ("flavour: sweet", "unknown axis 'flavour'"),
    ("steps: ten", "'ten' is not a int"),
    ("steps: ,", "no values"),
    ("adapters: a", "unknown axis"),  # a tuple field: not a grid axis
])
def test_bad_axes_are_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_axis(text)


def test_template_groups_become_prompt_search_replace_axes_on_free_positions() -> None:
    prompt, axes = expand_template("a portrait of a {nurse|engineer|CEO} in {Lagos|Oslo|Lima}")
    assert prompt == "a portrait of a nurse in Lagos"
    assert [axis.values for axis in axes] == [("nurse", "engineer", "CEO"), ("Lagos", "Oslo", "Lima")]
    seed = parse_axis("seed: 1, 2")
    placed = place_axes((None, seed, None), axes)
    assert placed[0] is axes[0] and placed[1] is seed and placed[2] is axes[1]
    with pytest.raises(BadInput, match="3 free"):
        place_axes((None, None, None), axes * 2)
    with pytest.raises(BadInput, match="distinct"):
        expand_template("a {cat|cat}")


def test_planning_and_the_edges_that_use_it_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sfumato.explore.run, sfumato.explore.grid_image, sfumato.cli.explore, "
            "sfumato.server.native_explore, sys; heavy = {'torch', 'diffusers', 'av'} & set(sys.modules); "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
