"""A1111 infotext's adapter keys <-> Recipe.adapters: `<lora:...>` tags with `Lora hashes`, `TI hashes` for
textual inversions, and sfumato's own `Adapters` value for what those cannot say (see `sfumato.infotext`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from pydantic import ValidationError

from sfumato.errors import RecipeError
from sfumato.recipe import AdapterRef

# A1111's extra-network tag: <lora:NAME>, <lora:NAME:WEIGHT>, <lora:NAME:TE:UNET>, ...
RE_LORA_TAG: Final = re.compile(r"<lora:([^:>]+)(?::([^:>]*))?(?::([^:>]*))?(?::[^>]*)?>")
_RE_ESCAPED: Final = re.compile(r"%(25|3A|2C)")


# --- adapters --------------------------------------------------------------------------------------------

def _alias(name: str) -> str:
    # A1111 removes these from the alias it writes in `Lora hashes` (extensions/Lora/networks.py).
    return name.replace(":", "").replace(",", "")


def lora_hashes_of(adapters: Iterable[AdapterRef]) -> str | None:
    """A1111's `Lora hashes` value ("alias: hash, ...") for the LoRA adapters that carry a hash."""
    entries = [f"{_alias(a.name)}: {a.hash}" for a in adapters if a.kind == "lora" and a.hash is not None]
    return ", ".join(entries) or None


def adapters_from_prompt(prompt: str, lora_hashes: str | None) -> tuple[AdapterRef, ...]:
    """LoRA adapters named by `<lora:NAME:WEIGHT>` tags in `prompt`, first use of each name, hashes looked up."""
    hashes = dict(
        entry.split(": ", 1) for entry in (lora_hashes or "").split(", ") if ": " in entry
    )
    found: dict[str, AdapterRef] = {}
    for match in RE_LORA_TAG.finditer(prompt):
        name, weight = match[1], match[2] or "1"
        if name in found:
            continue
        try:
            # A1111's third item is the UNet's weight (<lora:NAME:TE:UNET>); kept only where it differs.
            unet = None if match[3] is None or float(match[3]) == float(weight) else float(match[3])
            found[name] = AdapterRef(name=name, weight=float(weight), hash=hashes.get(_alias(name)), unet_weight=unet)
        except (ValueError, ValidationError):
            continue  # a tag A1111 would read with options we do not model: not an adapter we can name
    return tuple(found.values())


# --- textual-inversion embeddings (A1111 "TI hashes") ------------------------------------------------------

def ti_hashes_of(adapters: Iterable[AdapterRef]) -> str | None:
    """A1111's `TI hashes` value ("name: hash, ...") for the embedding adapters that carry a hash."""
    entries = [f"{_alias(a.name)}: {a.hash}" for a in adapters if a.kind == "embedding" and a.hash is not None]
    return ", ".join(entries) or None


def embeddings_from_ti_hashes(ti_hashes: str | None) -> tuple[AdapterRef, ...]:
    """Embedding adapters named by a `TI hashes` value, in order; entries that name nothing are skipped."""
    found = []
    for entry in (ti_hashes or "").split(", "):
        name, _, value = entry.partition(": ")
        if name and value:
            found.append(AdapterRef(name=name, kind="embedding", hash=value))
    return tuple(found)


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace(":", "%3A").replace(",", "%2C")


def _unescape(text: str) -> str:
    return _RE_ESCAPED.sub(lambda match: chr(int(match[1], 16)), text)


def encode_adapters(adapters: Iterable[AdapterRef]) -> str:
    """sfumato's `Adapters` value: "kind:name:weight[:hash], ..." or "none"."""
    entries = []
    for adapter in adapters:
        weight = repr(adapter.weight) if adapter.unet_weight is None else f"{adapter.weight!r}/{adapter.unet_weight!r}"
        entry = f"{adapter.kind}:{_escape(adapter.name)}:{weight}"
        entries.append(entry if adapter.hash is None else f"{entry}:{_escape(adapter.hash)}")
    return ", ".join(entries) or "none"


def decode_adapters(value: str) -> tuple[AdapterRef, ...]:
    """Inverse of `encode_adapters`; raises RecipeError naming the entry that does not parse."""
    if value == "none":
        return ()
    adapters = []
    for entry in value.split(", "):
        parts = entry.split(":")
        if len(parts) not in (3, 4):
            raise RecipeError(
                f"adapters: infotext 'Adapters' entry must be 'kind:name:weight[:hash]', got {entry!r}",
                field="adapters",
            )
        weight, _, unet_weight = parts[2].partition("/")  # "TE/UNET" when the parts differ
        data: dict[str, Any] = {"kind": parts[0], "name": _unescape(parts[1]), "weight": weight}
        if unet_weight:
            data["unet_weight"] = unet_weight
        if len(parts) == 4:
            data["hash"] = _unescape(parts[3])
        try:
            adapters.append(AdapterRef.model_validate(data))
        except ValidationError as error:
            raise RecipeError(f"adapters: bad infotext 'Adapters' entry {entry!r}: {error}", field="adapters") from error
    return tuple(adapters)
