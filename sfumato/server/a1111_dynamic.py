"""The sd-dynamic-prompts extension's entry in A1111 txt2img `alwayson_scripts` -> sfumato's template mode.

A1111 with the extension expands templates in random mode unless a request's `alwayson_scripts` says otherwise:
`{"Dynamic Prompts v2.17.1": {"args": [is_enabled, is_combinatorial, ...]}}` (its `process()` argument order).
Arguments sfumato cannot honour (Magic Prompt, Jinja, ...) are refused with a 422 when switched on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sfumato.errors import RecipeError
from sfumato.prompt.dynamic import DynamicMode

SCRIPT_PREFIX: Final = "dynamic prompts"  # A1111 matches script titles lower-cased; the title ends in a version
# Positions in the extension's process() arguments that change the prompts in ways sfumato does not do.
_UNSUPPORTED: Final = (
    (3, "is_magic_prompt"), (4, "is_feeling_lucky"), (5, "is_attention_grabber"), (10, "use_fixed_seed"),
    (11, "unlink_seed_from_prompt"), (13, "enable_jinja_templates"), (14, "no_image_generation"),
    (15, "max_generations"),
)


def _is_dynamic_prompts(name: str) -> bool:
    return name.strip().lower().startswith(SCRIPT_PREFIX)


def other_scripts(scripts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `alwayson_scripts` entries that are not the dynamic-prompts one."""
    return {name: value for name, value in (scripts or {}).items() if not _is_dynamic_prompts(name)}


def template_mode(scripts: Mapping[str, Any] | None) -> DynamicMode | None:
    """random (the extension's default), combinatorial, or None when the request switches the extension off."""
    entry = next((value for name, value in (scripts or {}).items() if _is_dynamic_prompts(name)), None)
    args = entry.get("args", []) if isinstance(entry, Mapping) else []
    if not isinstance(args, list):
        raise RecipeError(f"alwayson_scripts: the Dynamic Prompts entry's args must be a list, got {args!r}",
                          field="alwayson_scripts")
    for position, name in _UNSUPPORTED:
        if position < len(args) and args[position]:
            raise RecipeError(f"alwayson_scripts: Dynamic Prompts {name} is not supported by sfumato (got "
                              f"{args[position]!r}); leave it false/0", field="alwayson_scripts")
    if args and not args[0]:
        return None
    return "combinatorial" if len(args) > 1 and args[1] else "random"
