"""X/Y/Z grid axes: `NAME: VALUES` parsed as A1111's xyz_grid script reads them, and applied to Recipe fields.

Values are a CSV list (double quotes keep commas inside a value). Integer and float axes also take ranges:
`1-5` (1,2,3,4,5), `1-10 (+2)` (1,3,5,7,9: a step), `1-10 [5]` (1,3,5,7,10: a count, A1111's linspace cut to
int). Unlike A1111 a float step range stops at its end (A1111's `1-10 (+2)` on a float axis also gives 11), and
a range counts down when its end is below its start. A seed or variation seed of -1 becomes one random seed.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from sfumato.errors import BadInput
from sfumato.infotext_adapters import adapters_from_prompt
from sfumato.recipe import MAX_SEED, Recipe
from sfumato.sampler_names import SAMPLER_NAMES

Kind = Literal["int", "float", "str"]
Value = int | float | str
Apply = Callable[[dict[str, Any], Value, Sequence[Value]], None]

_NUMBER: Final[Mapping[str, str]] = MappingProxyType({"int": r"[+-]?\d+", "float": r"[+-]?\d+(?:\.\d*)?"})
_KINDS: Final[Mapping[Kind, Callable[[str], Value]]] = MappingProxyType({"int": int, "float": float, "str": str})


def _set(field: str) -> Apply:
    def apply(fields: dict[str, Any], value: Value, values: Sequence[Value]) -> None:
        fields[field] = value

    return apply


def _set_sampler(fields: dict[str, Any], value: Value, values: Sequence[Value]) -> None:
    # The recipe stores "Automatic" resolved to the sampler's default (DPM++ 2M -> Karras); a schedule that is
    # just the old sampler's default goes back to Automatic, so the new sampler resolves its own (A1111 keeps
    # "Automatic" until sampling).
    known = SAMPLER_NAMES.get(str(fields.get("sampler")))
    if known is not None and fields.get("schedule_type") == known.default_schedule:
        fields["schedule_type"] = "Automatic"
    fields["sampler"] = value


def _search_replace(fields: dict[str, Any], value: Value, values: Sequence[Value]) -> None:
    # A1111's Prompt S/R: the axis's first value is what to search for; each value replaces it everywhere.
    search = str(values[0])
    texts = ("prompt", "negative_prompt", "mix_prompt")
    if not any(search in (fields.get(name) or "") for name in texts):
        raise BadInput(f"Prompt S/R: the first value {search!r} is not in the prompt or negative prompt; it is what "
                       "each value replaces", hint="start the values with a word the prompt contains")
    before = str(fields.get("prompt") or "")
    for name in texts:
        if fields.get(name) is not None:
            fields[name] = fields[name].replace(search, str(value))
    _follow_lora_tags(fields, before)


def _follow_lora_tags(fields: dict[str, Any], before: str) -> None:
    # A LoRA adapter read from a prompt tag (the edge turns <lora:NAME:W> into an adapter) follows its tag, as in
    # A1111 where the tags are the LoRAs: S/R over "<lora:ink:0.5>" changes the weight used, or drops the LoRA.
    # Tags new to the prompt become adapters when the cell is made (Studio.completed).
    old = {tag.name: tag for tag in adapters_from_prompt(before, None)}
    new = {tag.name: tag for tag in adapters_from_prompt(str(fields.get("prompt") or ""), None)}
    adapters = []
    for adapter in (dict(a) for a in fields.get("adapters") or ()):
        tag = old.get(adapter["name"])
        if adapter.get("kind", "lora") == "lora" and tag is not None and \
                (adapter["weight"], adapter.get("unet_weight")) == (tag.weight, tag.unet_weight):
            if adapter["name"] not in new:
                continue
            adapter["weight"], adapter["unet_weight"] = new[adapter["name"]].weight, new[adapter["name"]].unet_weight
        adapters.append(adapter)
    fields["adapters"] = adapters


@dataclass(frozen=True)
class AxisSpec:
    """One kind of axis: its label, its value type, how a value changes the recipe fields."""

    label: str
    kind: Kind
    apply: Apply
    prefix_label: bool = True  # "Seed: 3" on the grid; samplers and prompt replacements show the value alone
    seed_like: bool = False  # -1 means a fresh random seed


_SAMPLER = AxisSpec("Sampler", "str", _set_sampler, prefix_label=False)
_MODEL = AxisSpec("Checkpoint name", "str", _set("model"), prefix_label=False)
_PROMPT_SR = AxisSpec("Prompt S/R", "str", _search_replace, prefix_label=False)
# Keys are lower case; A1111's axis labels and sfumato's field names both work.
AXES: Final[Mapping[str, AxisSpec]] = MappingProxyType({
    "seed": AxisSpec("Seed", "int", _set("seed"), seed_like=True),
    "var. seed": AxisSpec("Var. seed", "int", _set("subseed"), seed_like=True),
    "variation seed": AxisSpec("Var. seed", "int", _set("subseed"), seed_like=True),
    "var. strength": AxisSpec("Var. strength", "float", _set("subseed_strength")),
    "variation strength": AxisSpec("Var. strength", "float", _set("subseed_strength")),
    "steps": AxisSpec("Steps", "int", _set("steps")),
    "cfg scale": AxisSpec("CFG Scale", "float", _set("guidance_scale")),
    "cfg": AxisSpec("CFG Scale", "float", _set("guidance_scale")),
    "sampler": _SAMPLER,
    "schedule type": AxisSpec("Schedule type", "str", _set("schedule_type"), prefix_label=False),
    "checkpoint name": _MODEL,
    "checkpoint": _MODEL,
    "model": _MODEL,
    "prompt s/r": _PROMPT_SR,
    "s/r": _PROMPT_SR,
    "clip skip": AxisSpec("Clip skip", "int", _set("clip_skip")),
    "mix factor": AxisSpec("Mix factor", "float", _set("mix_factor")),
})
_ADAPTER_PREFIXES: Final = ("adapter ", "lora ")


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: what it changes and the values along it, in order."""

    name: str  # as typed (kept for the grid's metadata)
    spec: AxisSpec
    values: tuple[Value, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        shown = [f"{round(v, 8)}" if isinstance(v, float) else str(v) for v in self.values]
        return tuple(f"{self.spec.label}: {text}" if self.spec.prefix_label else text for text in shown)

    def apply(self, fields: dict[str, Any], index: int) -> None:
        self.spec.apply(fields, self.values[index], self.values)


def split_values(text: str) -> list[str]:
    """A1111's CSV reading of an axis's values: comma separated, double quotes around commas, blanks dropped."""
    rows = csv.reader(io.StringIO(text), skipinitialspace=True)
    return [value.strip() for row in rows for value in row if value.strip()]


def _int_range(text: str) -> list[Value] | None:
    number = _NUMBER["int"]
    if step := re.fullmatch(rf"\s*({number})\s*-\s*({number})\s*(?:\(\s*({number})\s*\))?\s*", text):
        start, end = int(step[1]), int(step[2])
        by = int(step[3]) if step[3] else (1 if end >= start else -1)
        return list(range(start, end + (1 if by > 0 else -1), by)) if by else None
    if count := re.fullmatch(rf"\s*({number})\s*-\s*({number})\s*\[\s*(\d+)\s*\]\s*", text):
        return [int(x) for x in _linspace(int(count[1]), int(count[2]), int(count[3]))]
    return None


def _float_range(text: str) -> list[Value] | None:
    number = _NUMBER["float"]
    if step := re.fullmatch(rf"\s*({number})\s*-\s*({number})\s*(?:\(\s*({number})\s*\))?\s*", text):
        start, end = float(step[1]), float(step[2])
        by = float(step[3]) if step[3] else (1.0 if end >= start else -1.0)
        if by == 0 or (end - start) * by < 0:
            return None
        total = int((end - start) / by + 1e-9) + 1  # stop at the end, allowing for float rounding
        return [start + by * i for i in range(total)]
    if count := re.fullmatch(rf"\s*({number})\s*-\s*({number})\s*\[\s*(\d+)\s*\]\s*", text):
        return list(_linspace(float(count[1]), float(count[2]), int(count[3])))
    return None


def _linspace(start: float, end: float, count: int) -> list[float]:
    # numpy.linspace's values (A1111 calls it): evenly spaced, both ends included, one value for a count of 1.
    if count <= 1:
        return [float(start)] if count == 1 else []
    step = (end - start) / (count - 1)
    return [start + step * i for i in range(count - 1)] + [float(end)]


_RANGES: Final = MappingProxyType({"int": _int_range, "float": _float_range})


def parse_values(text: str, kind: Kind, *, axis: str) -> tuple[Value, ...]:
    """Typed values of one axis, ranges expanded; raises BadInput naming the axis and the value."""
    values: list[Value] = []
    for item in split_values(text):
        expanded = _RANGES[kind](item) if kind in _RANGES else None
        if expanded is not None:
            values.extend(expanded)
            continue
        try:
            values.append(_KINDS[kind](item))
        except ValueError as error:
            raise BadInput(f"grid axis {axis!r}: {item!r} is not a {kind} or a range such as 1-5, 1-10 (+2), "
                           "1-10 [5]") from error
    if not values:
        raise BadInput(f"grid axis {axis!r}: no values given", hint="write e.g. 'seed: 1, 2, 3' or 'steps: 10-30 [3]'")
    return tuple(values)


def _generic_spec(field: str) -> AxisSpec | None:
    info = Recipe.model_fields.get(field)
    if info is None:
        return None
    annotation = info.annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), None)
    kinds: dict[object, Kind] = {int: "int", float: "float", str: "str"}
    kind = kinds.get(annotation)
    return None if kind is None else AxisSpec(field, kind, _set(field), seed_like=field in ("seed", "subseed"))


def _adapter_spec(name: str) -> AxisSpec:
    def apply(fields: dict[str, Any], value: Value, values: Sequence[Value]) -> None:
        adapters = [dict(a) for a in fields.get("adapters") or ()]
        tag = re.compile(rf"<lora:{re.escape(name)}(:[^:>]*)?(?=[:>])")
        found = [a for a in adapters if a["name"] == name]
        if not found and not tag.search(fields.get("prompt") or ""):
            raise BadInput(f"grid axis 'adapter {name}': the recipe has no adapter {name!r} and its prompt no "
                           f"<lora:{name}:...> tag")
        for adapter in found:
            adapter["weight"] = value
        fields["adapters"] = adapters
        fields["prompt"] = tag.sub(f"<lora:{name}:{value}", fields.get("prompt") or "")

    return AxisSpec(f"{name} weight", "float", apply)


def find_spec(name: str) -> AxisSpec:
    """The axis kind for a name: an A1111 label, a Recipe field, or `adapter NAME` / `lora NAME` (its weight)."""
    key = name.strip().lower()
    if key in AXES:
        return AXES[key]
    for prefix in _ADAPTER_PREFIXES:
        if key.startswith(prefix) and name.strip()[len(prefix):].strip():
            return _adapter_spec(name.strip()[len(prefix):].strip())
    spec = _generic_spec(name.strip())
    if spec is None:
        raise BadInput(f"grid axis: unknown axis {name!r}",
                       hint=f"use one of {', '.join(sorted(AXES))}, 'adapter NAME', or a Recipe field with a number "
                            "or text value (e.g. width, denoising_strength)")
    return spec


def parse_axis(text: str, *, random_seed: Callable[[], int] | None = None) -> Axis:
    """`NAME: VALUES` -> Axis, e.g. `seed: 1-3`, `sampler: Euler a, DPM++ 2M`, `Prompt S/R: cat, dog`."""
    name, sep, values = text.partition(":")
    if not sep or not name.strip():
        raise BadInput(f"grid axis must be 'NAME: VALUES' such as 'seed: 1, 2, 3', got {text!r}")
    spec = find_spec(name)
    parsed = parse_values(values, spec.kind, axis=name.strip())
    if spec.seed_like:
        pick = random_seed or (lambda: secrets.randbelow(MAX_SEED + 1))
        parsed = tuple(pick() if value == -1 else value for value in parsed)
    return Axis(name.strip(), spec, parsed)
