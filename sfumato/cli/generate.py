"""`sfumato generate`, `sfumato info` and `sfumato again`: make pictures, read their recipes, make them again."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from sfumato.cli.context import CliContext, err_console, out_console
from sfumato.cli.image_options import ImageOptions, image_fields
from sfumato.cli.progress import step_progress
from sfumato.errors import BadInput, SfumatoError
from sfumato.explore.grid_image import describe_sheet, sheet_or_none
from sfumato.picture_file import describe, read_metadata
from sfumato.prompt.request import PromptOptions, recipes_for
from sfumato.studio import SavedPicture

# A1111 "prompts from file" per-line options -> Recipe fields (scripts/prompts_from_file.py names).
LINE_OPTIONS = {
    "prompt": ("prompt", str), "negative_prompt": ("negative_prompt", str), "seed": ("seed", int),
    "steps": ("steps", int), "cfg_scale": ("guidance_scale", float), "sampler_name": ("sampler", str),
    "scheduler": ("schedule_type", str), "width": ("width", int), "height": ("height", int),
    "batch_size": ("batch_size", int), "n_iter": ("batch_count", int), "clip_skip": ("clip_skip", int),
    "sd_model": ("model", str),
}


def parse_size(size: str | None, option: str = "--size") -> tuple[int | None, int | None]:
    if size is None:
        return None, None
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise BadInput(f"{option} must look like WIDTHxHEIGHT, e.g. 512x768; got {size!r}")
    return int(width), int(height)


def parse_prompt_line(line: str, line_number: int) -> dict[str, Any]:
    """One line of a prompts file: a plain prompt, or A1111's `--prompt "..." --steps 10 ...` form."""
    if not line.startswith("--"):
        return {"prompt": line}
    try:
        words = shlex.split(line)
    except ValueError as error:
        raise BadInput(f"prompts file line {line_number}: {error}") from error
    fields: dict[str, Any] = {}
    for position in range(0, len(words), 2):
        key = words[position].removeprefix("--")
        if key not in LINE_OPTIONS or position + 1 >= len(words):
            raise BadInput(f"prompts file line {line_number}: unknown or empty option {words[position]!r}",
                           hint=f"allowed: {', '.join('--' + k for k in LINE_OPTIONS)}")
        name, kind = LINE_OPTIONS[key]
        try:
            fields[name] = kind(words[position + 1])
        except ValueError as error:
            raise BadInput(f"prompts file line {line_number}: {words[position]} needs a {kind.__name__}, "
                           f"got {words[position + 1]!r}") from error
    return fields


def read_prompts_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot read prompts file {path}: {error.strerror}") from error
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    return [parse_prompt_line(line, n) for n, line in lines if line and not line.startswith("#")]


def generate_command(
    ctx: typer.Context,
    prompt: Annotated[Optional[str], typer.Argument(help="What to picture.")] = None,
    negative: Annotated[Optional[str], typer.Option("--negative", "-n", help="Negative prompt.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model name (see `sfumato models list`).")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="A1111 sampler name, e.g. 'Euler a', 'DPM++ 2M'.")] = None,
    schedule: Annotated[Optional[str], typer.Option(help="Schedule type: Automatic, Karras, Exponential, ...")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Sampling steps (default: the model's).")] = None,
    cfg: Annotated[Optional[float], typer.Option(help="CFG scale (default: the model's).")] = None,
    size: Annotated[Optional[str], typer.Option(help="WIDTHxHEIGHT (default: the model's native size).")] = None,
    seed: Annotated[int, typer.Option(help="Seed; -1 picks one. Picture i of a batch uses seed + i.")] = -1,
    batch: Annotated[int, typer.Option(help="Pictures per batch.")] = 1,
    batch_count: Annotated[int, typer.Option(help="Number of batches.")] = 1,
    clip_skip: Annotated[Optional[int], typer.Option(help="Stop at the n-th last text-encoder layer (A1111).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N or mps (default: the best present).")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="fp32, fp16 or bf16 (default: chosen for the device).")] = None,
    rng: Annotated[str, typer.Option(help="Where noise is drawn: cpu (same on every device) or device.")] = "cpu",
    out: Annotated[Optional[Path], typer.Option(help="Write pictures to this folder instead of the library.")] = None,
    collection: Annotated[str, typer.Option(help="Library collection (folder) to save into.")] = "unsorted",
    from_file: Annotated[Optional[Path], typer.Option(help="One prompt per line (A1111 'prompts from file').")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {path, recipe}.")] = False,
    style: Annotated[Optional[list[str]], typer.Option(
        "--style", help="A style from styles.csv (repeatable; applied in order).")] = None,
    theme: Annotated[Optional[str], typer.Option(
        help="A theme file (YAML/JSON) or a theme name from <home>/themes; PROMPT, if given, is added to it.")] = None,
    combinatorial: Annotated[bool, typer.Option(
        "--combinatorial", help="Make every combination of a template's {a|b} variants and wildcards.")] = False,
    wildcards: Annotated[Optional[Path], typer.Option(
        help="Folder of __wildcard__ files (default: <home>/wildcards).")] = None,
    variation_seed: Annotated[Optional[int], typer.Option(
        help="Variation seed (A1111 subseed); -1 picks one. Picture i uses variation seed + i.")] = None,
    variation_strength: Annotated[float, typer.Option(
        help="How far towards the variation seed's noise: 0 (the seed's picture) to 1.")] = 0.0,
    seed_resize_from: Annotated[Optional[str], typer.Option(
        help="WIDTHxHEIGHT: draw the seed's noise at this size (A1111 'Seed resize from').")] = None,
    # img2img, inpainting, outpainting, hires fix (issue #7): see cli/image_options.py
    init_image: Annotated[Optional[Path], typer.Option(help="img2img: start from this picture.")] = None,
    strength: Annotated[Optional[float], typer.Option(
        help="Denoising strength 0-1 (img2img default 0.75, hires fix 0.7).")] = None,
    mask: Annotated[Optional[Path], typer.Option(help="Inpaint: white = repaint (same size as --init-image).")] = None,
    mask_blur: Annotated[Optional[int], typer.Option(help="Mask blur radius in pixels (default 4).")] = None,
    inpaint_area: Annotated[Optional[str], typer.Option(
        help="whole-picture or only-masked (crop, upscale, paste).")] = None,
    padding: Annotated[Optional[int], typer.Option(help="Only masked: pixels around the mask (default 32).")] = None,
    masked_content: Annotated[Optional[str], typer.Option(
        help="original, fill, 'latent noise' or 'latent nothing'.")] = None,
    invert_mask: Annotated[bool, typer.Option(help="Repaint what the mask leaves out.")] = False,
    resize_mode: Annotated[Optional[str], typer.Option(
        help="'just resize', 'crop and resize', 'resize and fill' or 'latent upscale'.")] = None,
    outpaint: Annotated[Optional[str], typer.Option(
        help="Extend --init-image, e.g. left=64,down=32 (multiples of 8).")] = None,
    hires: Annotated[bool, typer.Option(help="Hires fix: a second img2img pass at a larger size.")] = False,
    hires_upscaler: Annotated[Optional[str], typer.Option(
        help="Latent (default), Latent (bicubic), ..., Lanczos, Nearest.")] = None,
    hires_scale: Annotated[Optional[float], typer.Option(help="Hires fix: upscale by (default 2).")] = None,
    hires_size: Annotated[Optional[str], typer.Option(help="Hires fix: WIDTHxHEIGHT instead of a scale.")] = None,
    hires_steps: Annotated[Optional[int], typer.Option(help="Hires fix steps (default: --steps).")] = None,
    hires_sampler: Annotated[Optional[str], typer.Option(help="Hires fix sampler (default: --sampler).")] = None,
    hires_schedule: Annotated[Optional[str], typer.Option(
        help="Hires fix schedule type (default: --schedule).")] = None,
    hires_prompt: Annotated[Optional[str], typer.Option(help="Hires fix prompt (default: PROMPT).")] = None,
    hires_negative: Annotated[Optional[str], typer.Option(
        help="Hires fix negative prompt (default: --negative).")] = None,
) -> None:
    """Make pictures from a prompt (or an init image, mask or outpainting); prints the path of each picture.

    A prompt with {red|green|blue} variants or __wildcards__ is a template: each picture gets its own
    resolved prompt, drawn from its seed (random mode) or from every combination (--combinatorial).
    """
    context: CliContext = ctx.obj
    if prompt is None and from_file is None and theme is None:
        raise BadInput("give a PROMPT, --theme THEME or --from-file FILE")
    width, height = parse_size(size)
    resize_width, resize_height = parse_size(seed_resize_from, "--seed-resize-from")
    common = {
        "negative_prompt": negative, "model": model, "sampler": sampler, "schedule_type": schedule, "steps": steps,
        "guidance_scale": cfg, "width": width, "height": height, "seed": seed, "batch_size": batch,
        "batch_count": batch_count, "clip_skip": clip_skip, "device": device, "dtype": dtype, "noise_source": rng,
        "subseed": variation_seed, "subseed_strength": variation_strength,
        "seed_resize_from_width": resize_width, "seed_resize_from_height": resize_height,
    }
    lines = read_prompts_file(from_file) if from_file is not None else [{"prompt": prompt}]
    studio = context.studio
    images = ImageOptions(init_image, strength, mask, mask_blur, inpaint_area, padding, masked_content, invert_mask,
                          resize_mode, outpaint, hires, hires_upscaler, hires_scale, hires_size, hires_steps,
                          hires_sampler=hires_sampler, hires_schedule=hires_schedule, hires_prompt=hires_prompt,
                          hires_negative=hires_negative)
    common |= {k: v for k, v in image_fields(studio, images, size_given=size is not None).items() if v is not None}
    options = PromptOptions(styles=tuple(style or ()), theme=theme, wildcards=wildcards,
                            mode="combinatorial" if combinatorial else "random")
    recipes = [  # all validated (and templates expanded, issue #5) before any work
        recipe for line in lines
        for recipe in recipes_for({**common, **line}, options, home=context.settings.home, new_recipe=studio.new_recipe)
    ]
    saved: list[SavedPicture] = []
    console = out_console()
    for recipe in recipes:
        with step_progress(recipe) as on_progress:
            pictures = studio.generate(recipe, collection=collection, out_dir=out, on_progress=on_progress)
        saved.extend(pictures)
        for warning in dict.fromkeys(w for picture in pictures for w in picture.warnings):
            err_console().print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True, emoji=False)
        if not as_json:
            for picture in pictures:
                console.print(str(picture.path))
    if as_json:
        payload = [{"path": str(p.path), "recipe": p.recipe.model_dump(mode="json")} for p in saved]
        console.print_json(json.dumps(payload))


def info_command(
    files: Annotated[list[Path], typer.Argument(help="PNG (or YAML sidecar) files to read.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {path, source, recipe}.")] = False,
) -> None:
    """Print the recipe a picture carries (sfumato JSON, A1111 infotext, YAML sidecar or ComfyUI graph)."""
    failures: list[SfumatoError] = []
    results: list[dict[str, Any]] = []
    console, errors = out_console(), err_console()
    for path in files:
        if (sheet := sheet_or_none(path)) is not None:  # an X/Y/Z grid sheet lists its axes, not one recipe
            if as_json:
                results.append({"path": str(path), "source": "grid", "grid": sheet})
            else:
                console.print(f"[bold]{path}[/]")
                console.print(describe_sheet(sheet), markup=False)
                console.print()
            continue
        try:
            meta = read_metadata(path)
        except SfumatoError as error:
            failures.append(error)
            errors.print(f"[red]error:[/] {error.message}")
            continue
        if as_json:
            results.append({"path": str(path), "source": meta.source, "recipe": meta.recipe.model_dump(mode="json")})
        else:
            console.print(f"[bold]{path}[/]")
            console.print(describe(meta), markup=False)
            console.print()
    if as_json:
        console.print_json(json.dumps(results))
    if failures:
        raise typer.Exit(code=failures[0].exit_code)


def again_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A picture made by sfumato (or any PNG with a full recipe).")],
    device: Annotated[Optional[str], typer.Option(help="Regenerate on this device instead of the recorded one.")] = None,
) -> None:
    """Make a picture again from its own metadata; exit 0 only when every pixel matches."""
    context: CliContext = ctx.obj
    report = context.studio.again_or_raise(file, device=device)
    console = out_console()
    console.print(f"{file}: pixels match ({report.differing_pixels} differ)")
    for note in report.notes:
        console.print(f"  note: {note}")
