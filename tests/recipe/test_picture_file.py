"""Picture files: what write_picture puts in a PNG and beside it, and what read_metadata finds in others' files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image, PngImagePlugin

from sfumato.errors import BadInput
from sfumato.infotext import recipe_to_infotext
from sfumato.picture import BatchPosition, Picture
from sfumato.picture_file import describe, read_metadata, write_picture
from sfumato.recipe import AdapterRef, Recipe

RECIPE = Recipe(
    prompt="a red fox, 森の中\nsnow: falling", negative_prompt="blurry", seed=1234, sampler="Euler a",
    steps=12, width=64, height=96, adapters=(AdapterRef(name="fox_style", weight=0.7, hash="0123456789ab"),),
    extra=(("Emphasis", "Original"),),
)


def _picture(recipe: Recipe = RECIPE) -> Picture:
    return Picture(Image.new("RGB", (64, 96), "orange"), recipe, BatchPosition(seed=1232, size=4, index=2),
                   {"total_s": 1.25}, ("VAE retried in fp32",))


def _png(path: Path, chunks: dict[str, str]) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", (8, 8), "green").save(path, pnginfo=info)
    return path


def test_png_carries_infotext_json_chunk_and_sidecar(tmp_path: Path) -> None:
    path = write_picture(tmp_path / "fox.png", _picture())
    assert path == tmp_path / "fox.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fox.png", "fox.yaml"]
    with Image.open(path) as image:
        chunks = dict(image.text)
        assert image.size == (64, 96)
    # non-Latin-1 text goes into iTXt, as PIL's add_text does for A1111
    assert chunks["parameters"] == recipe_to_infotext(RECIPE)
    payload = json.loads(chunks["sfumato"])
    assert payload["schema_version"] == 1
    assert payload["recipe"] == RECIPE.model_dump(mode="json")
    assert payload["batch"] == {"seed": 1232, "size": 4, "index": 2}
    assert payload["timings"] == {"total_s": 1.25} and payload["warnings"] == ["VAE retried in fp32"]
    sidecar = yaml.safe_load((tmp_path / "fox.yaml").read_text(encoding="utf-8"))
    assert list(sidecar) == ["recipe", "schema_version", "batch", "timings", "warnings", "sfumato_version"]
    assert list(sidecar["recipe"])[:3] == ["prompt", "negative_prompt", "model"]
    assert sidecar["recipe"]["extra"] == {"Emphasis": "Original"}
    assert "prompt: |-\n    a red fox, 森の中\n    snow: falling\n" in (tmp_path / "fox.yaml").read_text("utf-8")


def test_latin1_infotext_is_a_text_chunk(tmp_path: Path) -> None:
    path = write_picture(tmp_path / "plain.png", _picture(Recipe(prompt="café")), sidecar=False)
    raw = path.read_bytes()
    assert b"tEXtparameters\x00caf\xe9" in raw and b"iTXtsfumato" in raw
    assert not path.with_suffix(".yaml").exists()


def test_read_prefers_json_chunk_then_infotext_then_sidecar(tmp_path: Path) -> None:
    path = write_picture(tmp_path / "fox.png", _picture())
    meta = read_metadata(path)
    assert (meta.source, meta.recipe, meta.batch) == ("sfumato-json", RECIPE, BatchPosition(1232, 4, 2))
    assert meta.infotext == recipe_to_infotext(RECIPE)

    only_infotext = _png(tmp_path / "a1111.png", {"parameters": recipe_to_infotext(RECIPE)})
    meta = read_metadata(only_infotext)
    assert (meta.source, meta.recipe, meta.batch) == ("infotext", RECIPE, None)
    assert meta.raw["Seed"] == "1234"

    bare = _png(tmp_path / "fox2.png", {})
    (tmp_path / "fox2.yaml").write_bytes((tmp_path / "fox.yaml").read_bytes())
    meta = read_metadata(bare)
    assert (meta.source, meta.recipe, meta.batch) == ("yaml", RECIPE, BatchPosition(1232, 4, 2))


def test_png_without_metadata_is_bad_input(tmp_path: Path) -> None:
    path = _png(tmp_path / "nothing.png", {"Software": "GIMP"})
    with pytest.raises(BadInput, match=r"nothing\.png: no picture metadata found.*'parameters'.*nothing\.yaml"):
        read_metadata(path)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("text.png", b"not a png at all", "not a picture"),
    ("missing.png", None, "no such file"),
])
def test_unreadable_files_are_bad_input(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(BadInput, match=message):
        read_metadata(tmp_path / name)


def test_broken_chunks_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="'sfumato' is not valid JSON"):
        read_metadata(_png(tmp_path / "a.png", {"sfumato": "{oops"}))
    with pytest.raises(BadInput, match="schema_version must be 1"):
        read_metadata(_png(tmp_path / "b.png", {"sfumato": json.dumps({"schema_version": 9, "recipe": {}})}))
    with pytest.raises(BadInput, match=r"c\.png: infotext has no parameter line"):
        read_metadata(_png(tmp_path / "c.png", {"parameters": "just a prompt"}))


def test_jpeg_exif_user_comment_is_read(tmp_path: Path) -> None:
    text = recipe_to_infotext(Recipe(prompt="猫, a cat", seed=5))
    exif = Image.Exif()
    # A1111 stores JPEG infotext with piexif: "UNICODE\0" + UTF-16 big-endian
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")
    path = tmp_path / "a1111.jpg"
    Image.new("RGB", (8, 8)).save(path, exif=exif)
    meta = read_metadata(path)
    assert (meta.source, meta.infotext, meta.recipe.prompt, meta.recipe.seed) == ("infotext", text, "猫, a cat", 5)


def test_hand_written_yaml_recipe_is_read(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text("prompt: a lighthouse\nseed: 9\nsampler: DPM++ 2M Karras\nextra:\n  Note: hi\n", "utf-8")
    meta = read_metadata(path)
    assert (meta.recipe.prompt, meta.recipe.seed, meta.recipe.schedule_type) == ("a lighthouse", 9, "Karras")
    assert meta.recipe.extra == (("Note", "hi"),)


def test_describe_shows_infotext_and_source(tmp_path: Path) -> None:
    meta = read_metadata(write_picture(tmp_path / "fox.png", _picture()))
    text = describe(meta)
    assert text.startswith(recipe_to_infotext(RECIPE) + "\n\n")
    assert text.endswith("source: sfumato's JSON chunk 'sfumato'; picture 3 of a batch of 4 (batch seed 1232)")
    a1111 = "cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1"
    meta = read_metadata(_png(tmp_path / "a.png", {"parameters": a1111}))
    assert describe(meta) == a1111 + "\n\nsource: A1111 infotext (PNG 'parameters' chunk or EXIF UserComment)"


def test_writing_again_replaces_the_files(tmp_path: Path) -> None:
    path = tmp_path / "fox.png"
    write_picture(path, _picture())
    write_picture(path, _picture(Recipe(prompt="second")))
    assert read_metadata(path).recipe.prompt == "second"
    assert read_metadata(path.with_suffix(".yaml")).recipe.prompt == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fox.png", "fox.yaml"]
