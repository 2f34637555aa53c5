"""Picture files: write a PNG that carries its Recipe (A1111 infotext, JSON chunk, YAML sidecar); read any tool's.

Reading prefers, in order: sfumato's `sfumato` JSON chunk, A1111 infotext (PNG `parameters` chunk, JPEG/WebP
EXIF UserComment), a `.yaml` sidecar, then a ComfyUI `prompt` graph (API format), translated to a Recipe.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal

import yaml
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from sfumato import __version__
from sfumato.atomic_write import atomic_write_bytes, atomic_writer
from sfumato.comfyui_graph import recipe_from_comfyui
from sfumato.errors import BadInput
from sfumato.infotext import parse_infotext, recipe_from_infotext, recipe_to_infotext
from sfumato.picture import BatchPosition, Picture
from sfumato.recipe import Recipe, recipe_from

PAYLOAD_SCHEMA_VERSION: Final = 1
CHUNK_INFOTEXT: Final = "parameters"
CHUNK_SFUMATO: Final = "sfumato"
CHUNK_COMFYUI: Final = "prompt"
_EXIF_IFD: Final = 0x8769
_USER_COMMENT: Final = 0x9286
# Recipe fields a person looks for first in a sidecar; the rest follow in the model's own order.
_YAML_FIRST: Final = (
    "prompt", "negative_prompt", "model", "seed", "sampler", "schedule_type", "steps", "guidance_scale", "width",
    "height",
)

Source = Literal["sfumato-json", "yaml", "infotext", "comfyui"]
_SOURCE_TEXT: Final[Mapping[str, str]] = MappingProxyType({
    "sfumato-json": "sfumato's JSON chunk 'sfumato'",
    "yaml": "a sfumato YAML sidecar",
    "infotext": "A1111 infotext (PNG 'parameters' chunk or EXIF UserComment)",
    "comfyui": "a ComfyUI API graph (PNG 'prompt' chunk), translated to a sfumato recipe",
})


@dataclass(frozen=True)
class PictureMetadata:
    """What a picture file says about how it was made, and where that came from."""

    recipe: Recipe
    source: Source
    batch: BatchPosition | None = None
    infotext: str | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


# --- writing ---------------------------------------------------------------------------------------------

def picture_payload(picture: Picture) -> dict[str, Any]:
    """The JSON chunk / YAML sidecar content for `picture`."""
    batch = picture.batch
    return {
        "schema_version": PAYLOAD_SCHEMA_VERSION,
        "recipe": picture.recipe.model_dump(mode="json"),
        "batch": {"seed": batch.seed, "size": batch.size, "index": batch.index},
        "timings": dict(picture.timings),
        "warnings": list(picture.warnings),
        "sfumato_version": __version__,
    }


def write_picture(path: Path, picture: Picture, *, sidecar: bool = True) -> Path:
    """Write `picture` as a PNG carrying its recipe, then (optionally) `<stem>.yaml` beside it; both atomic."""
    path = Path(path)
    payload = picture_payload(picture)
    info = PngImagePlugin.PngInfo()
    # add_text falls back to iTXt for text Latin-1 cannot hold, as A1111 (same PIL call) does.
    info.add_text(CHUNK_INFOTEXT, recipe_to_infotext(picture.recipe))
    info.add_itxt(CHUNK_SFUMATO, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    buffer = io.BytesIO()
    picture.image.save(buffer, format="PNG", pnginfo=info)
    atomic_write_bytes(path, buffer.getvalue())
    if sidecar:
        with atomic_writer(path.with_suffix(".yaml"), "w") as file:
            file.write(sidecar_yaml(payload))
    return path


def _represent_str(dumper: yaml.representer.BaseRepresenter, value: str) -> yaml.ScalarNode:
    # Literal blocks keep multi-line prompts readable; PyYAML falls back to quoting when a block can't be exact.
    # PyYAML 6 writes NEL (U+0085) raw in single quotes with allow_unicode and reads it back as a space:
    # double quotes escape it as \N.
    style = '"' if "\x85" in value else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _SidecarDumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings as literal blocks."""

    # A copy of SafeDumper's table, built once here; PyYAML itself never writes to it while dumping.
    yaml_representers: ClassVar = {**yaml.SafeDumper.yaml_representers, str: _represent_str}


def sidecar_yaml(payload: Mapping[str, Any]) -> str:
    """The YAML sidecar text: the payload with the recipe first and its most-read fields on top."""
    recipe = dict(payload["recipe"])
    ordered = {key: recipe.pop(key) for key in _YAML_FIRST if key in recipe} | recipe
    extra = ordered.get("extra") or []
    if len({key for key, _ in extra}) == len(extra):
        ordered["extra"] = dict(extra)  # a mapping reads better; pairs stay a list only when a key repeats
    human = {"recipe": ordered} | {key: value for key, value in payload.items() if key != "recipe"}
    text: str = yaml.dump(human, Dumper=_SidecarDumper, sort_keys=False, allow_unicode=True, width=100)
    return text


# --- reading ---------------------------------------------------------------------------------------------

def read_metadata(path: Path) -> PictureMetadata:
    """The recipe a picture file (or its `.yaml` sidecar) carries, from the best source it has."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return _read_sidecar(path)
    chunks = _text_chunks(path)
    infotext = chunks.get(CHUNK_INFOTEXT)
    if CHUNK_SFUMATO in chunks:
        payload = _json(path, CHUNK_SFUMATO, chunks[CHUNK_SFUMATO])
        return _from_payload(path, payload, "sfumato-json", infotext)
    if infotext is not None:
        try:
            recipe = recipe_from_infotext(infotext)
        except BadInput as error:
            raise BadInput(f"{path}: {error.message}") from error
        return PictureMetadata(recipe, "infotext", None, infotext, MappingProxyType(parse_infotext(infotext)))
    sidecar = path.with_suffix(".yaml")
    if sidecar.is_file():
        return _read_sidecar(sidecar)
    if CHUNK_COMFYUI in chunks:
        graph = _json(path, CHUNK_COMFYUI, chunks[CHUNK_COMFYUI])
        return PictureMetadata(recipe_from_comfyui(graph, where=str(path)), "comfyui", raw=MappingProxyType(graph))
    raise BadInput(
        f"{path}: no picture metadata found; looked for PNG text chunks '{CHUNK_SFUMATO}' (sfumato JSON), "
        f"'{CHUNK_INFOTEXT}' (A1111 infotext) and '{CHUNK_COMFYUI}' (ComfyUI graph), an EXIF UserComment, "
        f"and a sidecar {sidecar.name}"
    )


def describe(meta: PictureMetadata) -> str:
    """What `sfumato info` prints: the infotext, then where it came from."""
    text = meta.infotext if meta.source == "infotext" and meta.infotext else recipe_to_infotext(meta.recipe)
    line = f"source: {_SOURCE_TEXT[meta.source]}"
    if meta.batch is not None and meta.batch.size > 1:
        line += f"; picture {meta.batch.index + 1} of a batch of {meta.batch.size} (batch seed {meta.batch.seed})"
    if meta.recipe.styles:  # infotext carries no style names (A1111 writes none), so say them here
        line += f"\nstyles applied: {', '.join(meta.recipe.styles)}"
    return f"{text}\n\n{line}"


def _text_chunks(path: Path) -> dict[str, str]:
    try:
        with Image.open(path) as image:
            chunks = {str(key): str(value) for key, value in getattr(image, "text", {}).items()}
            comment = _exif_user_comment(image)
    except FileNotFoundError as error:
        raise BadInput(f"{path}: no such file") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise BadInput(f"{path}: not a picture Pillow can read ({error})") from error
    if comment is not None:
        chunks.setdefault(CHUNK_INFOTEXT, comment)
    return chunks


def _exif_user_comment(image: Image.Image) -> str | None:
    raw = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    if not raw:
        return None
    if isinstance(raw, str):
        return raw
    prefix, body = bytes(raw[:8]), bytes(raw[8:])
    if prefix == b"UNICODE\0":
        # A1111 (piexif) writes UTF-16 big-endian; some tools write little-endian. ASCII-heavy text has its
        # zero bytes first in each pair when big-endian.
        big_endian = body[0::2].count(0) >= body[1::2].count(0)
        return body.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace").rstrip("\0")
    return body.decode("utf-8", errors="replace").rstrip("\0")


def _json(path: Path, chunk: str, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}: text chunk '{chunk}' is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise BadInput(f"{path}: text chunk '{chunk}' must hold a JSON object, got {type(data).__name__}")
    return data


def _read_sidecar(path: Path) -> PictureMetadata:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BadInput(f"{path}: no such file") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: not a readable YAML file ({error})") from error
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a sidecar must hold a mapping with a 'recipe' key, got {type(data).__name__}")
    return _from_payload(path, data if "recipe" in data else {"recipe": data}, "yaml", None)


def _from_payload(path: Path, payload: Mapping[str, Any], source: Source, infotext: str | None) -> PictureMetadata:
    version = payload.get("schema_version", PAYLOAD_SCHEMA_VERSION)
    if version != PAYLOAD_SCHEMA_VERSION:
        raise BadInput(
            f"{path}: schema_version must be {PAYLOAD_SCHEMA_VERSION} (this sfumato reads that), got {version!r}",
            hint="a newer sfumato wrote this file; upgrade sfumato to read it",
        )
    recipe_data = payload.get("recipe")
    if not isinstance(recipe_data, Mapping):
        raise BadInput(f"{path}: 'recipe' must be a mapping of Recipe fields, got {type(recipe_data).__name__}")
    recipe_data = dict(recipe_data)
    if isinstance(recipe_data.get("extra"), Mapping):
        recipe_data["extra"] = list(recipe_data["extra"].items())
    return PictureMetadata(
        recipe=recipe_from(recipe_data), source=source, batch=_batch(path, payload.get("batch")),
        infotext=infotext, raw=MappingProxyType(dict(payload)),
    )


def _batch(path: Path, data: Any) -> BatchPosition | None:
    if data is None:
        return None
    keys = ("seed", "size", "index")
    if not isinstance(data, Mapping) or not all(type(data.get(key)) is int for key in keys):
        raise BadInput(f"{path}: 'batch' must map seed, size and index to integers, got {data!r}")
    return BatchPosition(seed=data["seed"], size=data["size"], index=data["index"])
