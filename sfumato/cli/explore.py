"""`sfumato vary`, `sfumato walk` and `sfumato grid`: more like a picture, latent walks, X/Y/Z grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from sfumato.cli.context import CliContext, out_console
from sfumato.cli.generate import parse_size
from sfumato.errors import BadInput
from sfumato.explore.animation import ENCODERS
from sfumato.explore.axes import Axis, parse_axis
from sfumato.explore.grid import expand_template, place_axes, plan_grid
from sfumato.explore.run import new_stamp, run_grid, run_walk
from sfumato.explore.walk import plan_walk
from sfumato.picture_file import read_metadata
from sfumato.recipe import Recipe
from sfumato.studio import SavedPicture, Studio

Negative = Annotated[Optional[str], typer.Option("--negative", "-n", help="Negative prompt.")]
Model = Annotated[Optional[str], typer.Option(help="Model name (see `sfumato models list`).")]
Sampler = Annotated[Optional[str], typer.Option(help="A1111 sampler name, e.g. 'Euler a', 'DPM++ 2M'.")]
Steps = Annotated[Optional[int], typer.Option(help="Sampling steps (default: the model's).")]
Cfg = Annotated[Optional[float], typer.Option(help="CFG scale (default: the model's).")]
Size = Annotated[Optional[str], typer.Option(help="WIDTHxHEIGHT (default: the model's native size).")]
Seed = Annotated[int, typer.Option(help="Seed; -1 picks one.")]
Collection = Annotated[Optional[str], typer.Option(
    help="Library collection for the pictures and the sheet/animations (default: a new one under grids/ or walks/).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _maker(studio: Studio) -> Any:
    def make(recipe: Recipe, *, collection: str) -> list[SavedPicture]:
        return studio.generate(studio.completed(recipe), collection=collection)

    return make


def _start_recipe(studio: Studio, prompt: str | None, picture: Path | None, fields: dict[str, Any]) -> Recipe:
    if picture is not None:
        base = read_metadata(picture).recipe
        given = {key: value for key, value in fields.items() if value is not None and (key, value) != ("seed", -1)}
        return studio.new_recipe({**base.model_dump(), **given, **({"prompt": prompt} if prompt else {})})
    if prompt is None:
        raise BadInput("give a PROMPT or --from PICTURE")
    return studio.new_recipe({**fields, "prompt": prompt})


def vary_command(
    ctx: typer.Context,
    picture: Annotated[Path, typer.Argument(help="A picture whose recipe to vary (sfumato, A1111, ...).")],
    strength: Annotated[float, typer.Option(help="Variation strength: 0 is the picture itself, 1 a new seed.")] = 0.2,
    count: Annotated[int, typer.Option(help="How many variations (each with the next variation seed).")] = 4,
    variation_seed: Annotated[int, typer.Option(help="First variation seed; -1 picks one.")] = -1,
    collection: Annotated[str, typer.Option(help="Library collection to save into.")] = "unsorted",
    as_json: AsJson = False,
) -> None:
    """More like this: variations of a picture (same seed, new variation seeds), reproducible from each file."""
    context: CliContext = ctx.obj
    recipe = read_metadata(picture).recipe
    if recipe.subseed_strength > 0:
        raise BadInput(f"{picture} is itself a variation (variation seed {recipe.subseed} at strength "
                       f"{recipe.subseed_strength}); A1111's recipe has room for one variation seed only",
                       hint="vary the picture it was varied from, or use `sfumato walk` between two seeds")
    fields = recipe.model_dump() | {"subseed": variation_seed, "subseed_strength": strength, "batch_size": 1,
                                    "batch_count": count, "device": None, "dtype": None}
    saved = context.studio.generate(context.studio.new_recipe(fields), collection=collection)
    _print(saved, as_json)


def _print(saved: list[SavedPicture], as_json: bool, extra: dict[str, Any] | None = None) -> None:
    console = out_console()
    if as_json:
        console.print_json(json.dumps({**(extra or {}), "pictures": [
            {"path": str(p.path), "id": p.picture_id, "recipe": p.recipe.model_dump(mode="json")} for p in saved]}))
        return
    for item in saved:
        console.print(str(item.path))
    for key, value in (extra or {}).items():
        console.print(f"{key}: {value}")


def walk_command(
    ctx: typer.Context,
    prompt: Annotated[Optional[str], typer.Argument(help="Start prompt (or take the start from --from).")] = None,
    start: Annotated[Optional[Path], typer.Option("--from", help="Start from this picture's recipe.")] = None,
    to_seed: Annotated[Optional[int], typer.Option(help="Walk to this seed (slerp of the initial noise).")] = None,
    to_prompt: Annotated[Optional[str], typer.Option(help="Walk to this prompt (mixing the conditioning).")] = None,
    frames: Annotated[int, typer.Option(help="Number of frames, both ends included.")] = 8,
    fps: Annotated[int, typer.Option(help="Frames per second of the animations.")] = 8,
    formats: Annotated[str, typer.Option(help="Animations to write: any of webp,gif,mp4.")] = "webp,gif,mp4",
    negative: Negative = None, model: Model = None, sampler: Sampler = None, steps: Steps = None, cfg: Cfg = None,
    size: Size = None, seed: Seed = -1, collection: Collection = None, as_json: AsJson = False,
) -> None:
    """A latent walk: frames from one seed and/or prompt to another, saved as pictures and animations."""
    context: CliContext = ctx.obj
    chosen = [name.strip() for name in formats.split(",") if name.strip()]
    if unknown := [name for name in chosen if name not in ENCODERS]:
        raise BadInput(f"--formats: unknown {unknown}; allowed: {', '.join(ENCODERS)}")
    width, height = parse_size(size)
    fields = {"negative_prompt": negative, "model": model, "sampler": sampler, "steps": steps,
              "guidance_scale": cfg, "width": width, "height": height, "seed": seed}
    studio = context.studio
    plan = plan_walk(_start_recipe(studio, prompt, start, fields), frames=frames, to_seed=to_seed,
                     to_prompt=to_prompt)
    stamp = new_stamp()
    result = run_walk(plan, make=_maker(studio), library_root=studio.catalog.root,
                      collection=collection or f"walks/{stamp}", stamp=stamp, fps=fps, formats=chosen)
    _print(list(result.frames), as_json, {"files": [str(p) for p in result.files], "notes": list(result.notes)})


def grid_command(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="Prompt; {a|b|c} groups become Prompt S/R axes on free axes.")],
    x: Annotated[Optional[str], typer.Option("--x", help="X axis: 'NAME: VALUES', e.g. 'seed: 1-3'.")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="Y axis, e.g. 'sampler: Euler a, DPM++ 2M'.")] = None,
    z: Annotated[Optional[str], typer.Option("--z", help="Z axis: one sheet per value.")] = None,
    negative: Negative = None, model: Model = None, sampler: Sampler = None, steps: Steps = None, cfg: Cfg = None,
    size: Size = None, seed: Seed = -1, collection: Collection = None, as_json: AsJson = False,
) -> None:
    """An X/Y/Z grid: vary recipe fields along up to three axes; every cell and a labelled sheet are saved."""
    context: CliContext = ctx.obj
    given: tuple[Axis | None, ...] = tuple(None if text is None else parse_axis(text) for text in (x, y, z))
    first_prompt, templated = expand_template(prompt)
    axes = place_axes((given[0], given[1], given[2]), templated)
    width, height = parse_size(size)
    studio = context.studio
    base = studio.new_recipe({"prompt": first_prompt, "negative_prompt": negative, "model": model,
                              "sampler": sampler, "steps": steps, "guidance_scale": cfg, "width": width,
                              "height": height, "seed": seed})
    plan = plan_grid(base, axes)
    stamp = new_stamp()
    result = run_grid(plan, make=_maker(studio), library_root=studio.catalog.root,
                      collection=collection or f"grids/{stamp}", stamp=stamp)
    _print(list(result.cells), as_json, {"sheets": [str(p) for p in result.sheets]})
