"""Themes: a YAML/JSON file of named prompt sections (subject, outfit, environment, emotions, style, ...) -> a prompt.

A theme file holds `prompt` (sections in the order written, each a string, a list of strings joined with ", ",
or `{one_of: [...], pick: N}` for variants), an optional `negative_prompt` (string or list) and optional
`settings` (Recipe fields). Variants become dynamic-prompt syntax (`{a|b}`), so they resolve per picture from
the seed like any template. Themes are looked up by path or by name in `<home>/themes/`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sfumato.errors import BadInput, RecipeError

THEMES_FOLDER: Final = "themes"
THEME_SUFFIXES: Final = (".yaml", ".yml", ".json")
_SECTION_NAME: Final = r"^[A-Za-z][A-Za-z0-9_ -]{0,39}$"


class ThemeError(RecipeError):
    """A theme file that cannot be used: the message names the file, the section and the rule broken."""


class Variants(BaseModel):
    """A section (or item) that is one of several texts, chosen per picture: `{one_of: [a, b], pick: 1}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    one_of: tuple[str, ...] = Field(min_length=1)
    pick: int = Field(default=1, ge=1)

    def as_template(self) -> str:
        # dynamic-prompts syntax: {a|b}, or {2$$a|b|c} to pick two joined with ", "
        count = "" if self.pick == 1 else f"{self.pick}$$, $$"
        return "{" + count + "|".join(self.one_of) + "}"


Section = str | tuple[str | Variants, ...] | Variants


class ThemeSettings(BaseModel):
    """Recipe settings a theme may carry; anything given on the command line or in the request wins."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    model: str | None = None
    sampler: str | None = None
    schedule_type: str | None = Field(default=None, alias="schedule")
    steps: int | None = Field(default=None, ge=1, le=150)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=30.0, alias="cfg")
    size: str | None = Field(default=None, pattern=r"^\d+x\d+$", description="WIDTHxHEIGHT")
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    clip_skip: int | None = Field(default=None, ge=1, le=12)

    def recipe_fields(self) -> dict[str, Any]:
        fields = self.model_dump(exclude={"size"}, exclude_none=True)
        if self.size is not None:
            fields["width"], fields["height"] = (int(side) for side in self.size.split("x"))
        return fields


class Theme(BaseModel):
    """A theme file as validated. `theme` is its name (the file name without suffix when not given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    theme: str | None = Field(default=None, min_length=1, max_length=80)
    prompt: dict[str, Section] = Field(min_length=1)
    negative_prompt: str | tuple[str, ...] = ""
    settings: ThemeSettings = ThemeSettings()

    @field_validator("prompt", mode="before")
    @classmethod
    def _sections(cls, sections: Any) -> Any:
        # Checked here, one rule per section, so a mistake reads as one message rather than one per union member.
        if not isinstance(sections, dict):
            return sections
        return {_section_name(name): _section(name, value) for name, value in sections.items()}


def _section_name(name: Any) -> str:
    if not isinstance(name, str) or not re.match(_SECTION_NAME, name):
        raise ValueError(f"section name {name!r} must start with a letter and hold letters, digits, spaces, "
                         "'_' or '-' (at most 40)")
    return name


def _section(name: str, value: Any) -> Section:
    rule = "must be a string, a list of strings, or {one_of: [...], pick: N}"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _variants(name, value)
    if isinstance(value, list) and all(isinstance(item, (str, dict)) for item in value):
        return tuple(item if isinstance(item, str) else _variants(name, item) for item in value)
    raise ValueError(f"section {name!r} {rule}; got {value!r}")


def _variants(name: str, value: dict[str, Any]) -> Variants:
    try:
        return Variants.model_validate(value)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ValueError(f"section {name!r}: variants {value!r}: {problems}") from error


def _item_text(item: str | Variants) -> str:
    return item.as_template() if isinstance(item, Variants) else item.strip()


def section_text(section: Section) -> str:
    if isinstance(section, str):
        return section.strip()
    if isinstance(section, Variants):
        return section.as_template()
    return ", ".join(text for text in map(_item_text, section) if text)


@dataclass(frozen=True)
class ThemePrompt:
    """What a theme contributes to a request: its name and hash (saved with the picture), texts, settings."""

    name: str
    hash: str
    prompt: str
    negative_prompt: str
    settings: Mapping[str, Any]


def theme_prompt(theme: Theme, *, name: str) -> ThemePrompt:
    """The prompt (sections joined with ", " in the order written), the negative prompt and the settings."""
    prompt = ", ".join(text for text in map(section_text, theme.prompt.values()) if text)
    negative = theme.negative_prompt
    negative_text = negative.strip() if isinstance(negative, str) else ", ".join(n.strip() for n in negative if n)
    data = theme.model_dump(mode="json", by_alias=True)
    data["prompt"] = list(data["prompt"].items())  # section order makes the prompt, so it is part of the hash
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
    return ThemePrompt(theme.theme or name, digest, prompt, negative_text,
                       MappingProxyType(theme.settings.recipe_fields()))


def parse_theme(data: Any, *, source: str) -> Theme:
    """Validate theme data; a bad field raises ThemeError naming `source`, the section and the rule."""
    if not isinstance(data, dict):
        raise ThemeError(f"theme {source}: must be a mapping with a 'prompt' of sections, got {type(data).__name__}",
                         field="theme")
    try:
        return Theme.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            quiet = item["type"] in ("missing", "extra_forbidden", "value_error")  # these already say it
            received = "" if quiet else f" (got {item.get('input')!r})"
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{where or 'theme'}: {message}{received}")
        raise ThemeError(f"theme {source}: " + "; ".join(dict.fromkeys(problems)), field="theme",
                         hint="sections are a string, a list of strings, or {one_of: [...], pick: N}") from error


def themes_folder(home: Path) -> Path:
    return home / THEMES_FOLDER


def find_theme_file(name_or_path: str, home: Path) -> Path:
    """A theme file by path, or by name in `<home>/themes/` (NAME.yaml, .yml or .json)."""
    given = Path(name_or_path).expanduser()
    if given.is_file():
        return given
    folder = themes_folder(home)
    for suffix in ("", *THEME_SUFFIXES):
        candidate = folder / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in folder.glob("*") if p.suffix in THEME_SUFFIXES) if folder.is_dir() else []
    raise BadInput(f"theme {name_or_path!r}: no such file, and no {name_or_path}.yaml/.yml/.json in {str(folder)!r}",
                   hint=f"themes there: {', '.join(known) or 'none'}")


def load_theme(name_or_path: str, home: Path) -> ThemePrompt:
    """Read, validate and turn a theme into its prompt parts."""
    path = find_theme_file(name_or_path, home)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as error:
        raise ThemeError(f"theme {str(path)!r}: not readable as {path.suffix.lstrip('.') or 'YAML'} ({error})",
                         field="theme") from error
    return theme_prompt(parse_theme(data, source=repr(str(path))), name=path.stem)
