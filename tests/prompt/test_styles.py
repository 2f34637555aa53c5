"""styles.csv: A1111's {prompt} merge rules, reading its format, saving and deleting without disturbing other rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfumato.prompt.styles import (
    Style,
    UnknownStyle,
    apply_styles,
    delete_style,
    load_styles,
    merge_prompts,
    save_style,
    styles_path,
)

A1111_FILE = (  # as A1111 writes it (utf-8-sig, \r\n), with a comment row and a column another tool added
    '\ufeffname,prompt,negative_prompt,note\r\n'
    '# dividers,,,\r\n'
    'Watercolor,"{prompt}, watercolor, soft edges",blurry,mine\r\n'
    'Cinematic,"film still, 35mm","cartoon, drawing",\r\n'
)


@pytest.mark.parametrize(("style", "prompt", "merged"), [
    ("{prompt}, watercolor", "an owl", "an owl, watercolor"),
    ("masterpiece, {prompt}", "an owl", "masterpiece, an owl"),
    ("watercolor", "an owl", "an owl, watercolor"),
    ("  watercolor ", " an owl  ", "an owl, watercolor"),  # A1111 strips both sides when appending
    ("watercolor", "", "watercolor"),
    ("", "an owl", "an owl"),
    ("{prompt} and {prompt}", "x", "x and x"),
    ("{prompt}", "  kept as is ", "  kept as is "),  # substitution does not strip
])
def test_merge_prompts_is_a1111s(style: str, prompt: str, merged: str) -> None:
    assert merge_prompts(style, prompt) == merged


def test_reads_a1111s_file_and_applies_styles_in_order(tmp_path: Path) -> None:
    styles_path(tmp_path).write_text(A1111_FILE, encoding="utf-8", newline="")
    styles = load_styles(tmp_path)
    assert [s.name for s in styles] == ["Watercolor", "Cinematic"]  # the comment row is skipped
    prompt, negative = apply_styles("an owl", "text", ["Watercolor", "Cinematic"], styles)
    assert prompt == "an owl, watercolor, soft edges, film still, 35mm"
    assert negative == "text, blurry, cartoon, drawing"
    with pytest.raises(UnknownStyle, match="unknown style 'Noir'; styles there are: 'Watercolor', 'Cinematic'"):
        apply_styles("x", "", ["Noir"], styles)


def test_old_text_column_and_missing_file(tmp_path: Path) -> None:
    assert load_styles(tmp_path) == []
    styles_path(tmp_path).write_text("name,text\nInk,ink drawing\n", encoding="utf-8")
    assert load_styles(tmp_path) == [Style(name="Ink", prompt="ink drawing")]


def test_save_replaces_in_place_and_keeps_every_other_row_and_column(tmp_path: Path) -> None:
    path = styles_path(tmp_path)
    path.write_text(A1111_FILE, encoding="utf-8", newline="")
    assert save_style(tmp_path, Style(name="Watercolor", prompt="{prompt}, ink wash", negative_prompt="")) is True
    assert save_style(tmp_path, Style(name="New, odd \"name\"", prompt="a, b", negative_prompt="c")) is False
    text = path.read_bytes().decode("utf-8")  # bytes: read_text would turn \r\n into \n
    assert text == (
        '\ufeffname,prompt,negative_prompt,note\r\n'
        '# dividers,,,\r\n'
        'Watercolor,"{prompt}, ink wash",,mine\r\n'
        'Cinematic,"film still, 35mm","cartoon, drawing",\r\n'
        '"New, odd ""name""","a, b",c,\r\n'
    )
    assert [s.name for s in load_styles(tmp_path)] == ["Watercolor", "Cinematic", 'New, odd "name"']
    assert [p.name for p in tmp_path.iterdir()] == ["styles.csv"]  # atomic: no temporary file left behind


def test_delete_keeps_the_rest_and_a_new_file_is_a1111s_shape(tmp_path: Path) -> None:
    path = styles_path(tmp_path)
    path.write_text(A1111_FILE, encoding="utf-8", newline="")
    assert delete_style(tmp_path, "Watercolor").prompt == "{prompt}, watercolor, soft edges"
    assert path.read_bytes().decode("utf-8") == (
        '\ufeffname,prompt,negative_prompt,note\r\n# dividers,,,\r\nCinematic,"film still, 35mm","cartoon, drawing",\r\n')
    with pytest.raises(UnknownStyle):
        delete_style(tmp_path, "Watercolor")
    fresh = tmp_path / "fresh"
    save_style(fresh, Style(name="Ink", prompt="ink"))
    assert styles_path(fresh).read_bytes() == b"\xef\xbb\xbfname,prompt,negative_prompt\r\nInk,ink,\r\n"
