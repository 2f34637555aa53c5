"""`sfumato prompt parse|explain`: how a prompt will be read, without loading a model (explain loads a tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Final, Optional

import typer

from sfumato.cli.context import out_console
from sfumato.cli.prompt_embeddings import embedding_lookup, show_tokens, used_embeddings_lines
from sfumato.prompt.chunks import CHUNK_LENGTH, chunk_fragments, load_tokenizer
from sfumato.prompt.compel_syntax import SyntaxChoice
from sfumato.prompt.dynamic import TemplateInfo, is_template, template_info, wildcards_folder
from sfumato.prompt.parse import ParsedPrompt, parse_prompt
from sfumato.settings import Settings

# Every family sfumato runs but the embedded model (SD 1.x/2.x, SDXL, sfumato-tiny) tokenizes with CLIP's BPE.
CLIP_TOKENIZER: Final = Path(__file__).resolve().parent.parent / "models" / "tokenizers" / "clip"

prompt_app = typer.Typer(help="Show how a prompt is parsed, scheduled and tokenized.", no_args_is_help=True)

WildcardsOption = Annotated[Optional[Path], typer.Option(help="Folder of __wildcard__ files (default: "
                                                                "<home>/wildcards).")]
StepsOption = Annotated[int, typer.Option("--steps", min=1, max=150, help="Sampling steps the schedule spans.")]
SyntaxOption = Annotated[str, typer.Option("--syntax", help="auto, a1111 or compel.")]


def _syntax(value: str) -> SyntaxChoice:
    if value not in ("auto", "a1111", "compel"):
        raise typer.BadParameter(f"--syntax must be auto, a1111 or compel, got {value!r}")
    return value  # type: ignore[return-value]


@prompt_app.command("parse")
def parse_command(
    ctx: typer.Context,
    prompts: Annotated[list[str], typer.Argument(help="One or more prompts (quote each).")],
    steps: StepsOption = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, one object per prompt in a list.")] = False,
    syntax: SyntaxOption = "auto",
    wildcards: WildcardsOption = None,
) -> None:
    """Adapters, AND sub-prompts and per-step schedules: [end_at_step, text, [[fragment, weight], ...]].

    A template ({a|b} variants, __wildcards__) is reported with its number of combinations, and its first
    combination is parsed.
    """
    templates = [_template(ctx, text, wildcards) for text in prompts]
    parsed = [parse_prompt(info.first if info else text, steps=steps, syntax=_syntax(syntax))
              for text, info in zip(prompts, templates)]
    if as_json:
        items = [item.to_dict() | (info.to_dict() if info else {}) for item, info in zip(parsed, templates)]
        typer.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    for item, info in zip(parsed, templates):
        _print_template(info)
        _print_parsed(item)


def _template(ctx: typer.Context, text: str, given: Path | None) -> TemplateInfo | None:
    if not is_template(text):
        return None  # no home needed for a plain prompt
    home = _settings(ctx).home
    return template_info(text, given if given is not None else wildcards_folder(home))


def _settings(ctx: typer.Context) -> Settings:
    # prompt_app may run without the root callback (tests, embedding): then the environment's settings.
    return ctx.obj.settings if ctx.obj is not None else Settings()


def _wordpiece_window(ctx: typer.Context, model: str) -> int | None:
    """The token window of `model` when it is the embedded model (MiniLM), else None (CLIP chunking)."""
    from sfumato.cli.prompt_embeddings import model_entry
    from sfumato.models.emoji_model import read_emoji_config
    from sfumato.models.families import Family

    entry = model_entry(ctx, model)
    if entry is None or entry.family is not Family.SFUMATO_EMOJI or entry.path is None:
        return None
    return int(read_emoji_config(entry.path)["text_encoder"]["max_tokens"])


def _explain_wordpiece(item: ParsedPrompt, window: int) -> None:
    from sfumato.models.minilm import load_minilm_tokenizer
    from sfumato.prompt.wordpiece import wordpiece_tokens

    tokenizer, console = load_minilm_tokenizer(max_tokens=window), out_console()
    for index, sub in enumerate(item.sub_prompts):
        for entry in sub.schedule:
            tokens = wordpiece_tokens(tokenizer, entry.fragments, window)
            words = tokenizer.convert_ids_to_tokens(list(tokens.ids[1:-1]))
            shown = " ".join(w + (f"@{x:.3g}" if x != 1.0 else "") for w, x in zip(words, tokens.weights[1:-1]))
            console.print(f"  sub-prompt {index + 1}, up to step {entry.end_at_step}: {len(words) + len(tokens.cut)} "
                          f"tokens; MiniLM reads {window - 2} in one window", highlight=False, markup=False)
            console.print(f"    read: {shown}", highlight=False, markup=False)
            if tokens.cut:
                cut = " ".join(tokenizer.convert_ids_to_tokens(list(tokens.cut)))
                console.print(f"    warning: {len(tokens.cut)} tokens past the window are not read: {cut}",
                              highlight=False, markup=False, style="yellow")


def _print_template(info: TemplateInfo | None) -> None:
    if info is not None:
        out_console().print(f"template: {info.shown_count} combination(s); random mode draws one per picture from "
                            f"its seed; parsed below: the first, {info.first!r}", highlight=False, markup=False)


def _print_parsed(item: ParsedPrompt) -> None:
    console = out_console()
    console.print(f"prompt ({item.syntax}): {item.text}", highlight=False, markup=False, style="bold")
    console.print(f"  stripped_prompt: {item.stripped_prompt!r}", highlight=False, markup=False)
    for adapter in item.adapters:
        console.print(f"  adapter: {adapter.kind} {adapter.name} weight {adapter.weight:g}", highlight=False,
                      markup=False)
    for index, sub in enumerate(item.sub_prompts):
        console.print(f"  sub-prompt {index + 1} ({item.combine}), weight {sub.weight:g}: {sub.text!r}",
                      highlight=False, markup=False)
        for entry in sub.schedule:
            fragments = json.dumps([list(f) for f in entry.fragments], ensure_ascii=False)
            console.print(f"    [{entry.end_at_step}, {entry.text!r}, {fragments}]", highlight=False, markup=False)
    for warning in item.warnings:
        console.print(f"  warning: {warning}", highlight=False, markup=False, style="yellow")


@prompt_app.command("explain")
def explain_command(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The prompt (quoted).")],
    model: Annotated[Optional[str], typer.Option("--model", help="Model whose tokenizer to use (default: the "
                                                             "default model).")] = None,
    steps: StepsOption = 20,
    syntax: SyntaxOption = "auto",
    wildcards: WildcardsOption = None,
) -> None:
    """Tokens per 75-token chunk with their weights, the schedule, what the parser took out, and embeddings used.

    For the embedded model (MiniLM): its WordPiece tokens in its one fixed window, and the words the window cuts.
    """
    info = _template(ctx, prompt, wildcards)
    item = parse_prompt(info.first if info else prompt, steps=steps, syntax=_syntax(syntax))
    model = model or _settings(ctx).default_model
    _print_template(info)
    _print_parsed(item)
    removed = [f"<{a.kind}:{':'.join(a.items)}>" for a in item.adapters]
    out_console().print(f"  taken out: {', '.join(removed) or 'nothing'} (model {model})", highlight=False,
                        markup=False)
    window = _wordpiece_window(ctx, model)
    if window is not None:
        _explain_wordpiece(item, window)
    else:
        _explain_clip(ctx, item, model)


def _explain_clip(ctx: typer.Context, item: ParsedPrompt, model: str) -> None:
    tokenizer = load_tokenizer(CLIP_TOKENIZER)
    lookup, infos = embedding_lookup(ctx, tokenizer)
    used: set[str] = set()
    console = out_console()
    for index, sub in enumerate(item.sub_prompts):
        for entry in sub.schedule:
            chunks, count = chunk_fragments(entry.fragments, tokenizer, lookup if item.syntax == "a1111" else None)
            console.print(f"  sub-prompt {index + 1}, up to step {entry.end_at_step}: {count} tokens in "
                          f"{len(chunks)} chunk(s) of {CHUNK_LENGTH}", highlight=False, markup=False)
            for number, chunk in enumerate(chunks):
                used.update(name for _, name in chunk.fixes)
                moved = f" ({chunk.moved} carried over from the last comma)" if chunk.moved else ""
                console.print(f"    chunk {number + 1}{moved}: {show_tokens(tokenizer, chunk, infos)}", highlight=False,
                              markup=False)
    for line in used_embeddings_lines(used, infos, model, ctx):
        console.print(line, highlight=False, markup=False)
