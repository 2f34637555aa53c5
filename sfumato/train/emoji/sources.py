"""Source table: which npm packages give the emoji pictures and labels, pinned, with their licenses.

Facts from `reference/deps.md` sections 5-6. Apple, Facebook and EmojiOne/JoyPixels artwork is not
openly licensed and is refused by name (`check_allowed`), whatever a caller asks for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from sfumato.errors import BadInput


class ImageLayout(StrEnum):
    FILES = "files"  # one picture file per emoji, named by its codepoints ("1f431.png")
    ICONIFY = "iconify"  # SVG bodies in an IconifyJSON icons.json, codepoints from a chars.json


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    license: str
    integrity: str  # the sha512 SRI string `npm pack --json` reported when the version was pinned
    members: tuple[str, ...]  # fnmatch patterns of the tarball members the build needs

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def folder(self) -> str:
        """npm's tarball stem: '@lobehub/fluent-emoji-3d' 1.1.0 -> 'lobehub-fluent-emoji-3d-1.1.0'."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}"


@dataclass(frozen=True)
class ImageSource:
    """One style: where its pictures are inside a package and how they are credited."""

    style: str
    style_words: str  # appended to every caption so prompts can ask for the style
    package: NpmPackage
    layout: ImageLayout
    path: str  # FILES: the folder of pictures; ICONIFY: icons.json
    credit: str  # NOTICE paragraph
    chars_package: NpmPackage | None = None  # ICONIFY: the package whose chars.json maps codepoints
    chars_path: str | None = None
    labels_path: str | None = None  # the package's own labels, used where emojibase has none
    is_holdout_style: bool = False  # never mixed into base training


@dataclass(frozen=True)
class LabelSource:
    package: NpmPackage
    path: str
    credit: str


_EMOJI_DATASOURCE_CREDIT: Final = "emoji-datasource data: MIT License, Copyright (c) 2013 Cal Henderson."
_FLUENT_CREDIT: Final = (
    "Fluent Emoji (https://github.com/microsoft/fluentui-emoji): MIT License, "
    "Copyright (c) Microsoft Corporation."
)

GOOGLE: Final = NpmPackage(
    "emoji-datasource-google", "16.0.0", "Apache-2.0",
    "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
    ("package/img/google/64/*.png", "package/LICENSE", "package/package.json"),
)
TWITTER: Final = NpmPackage(
    "emoji-datasource-twitter", "16.0.0", "CC-BY-4.0",
    "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
    ("package/img/twitter/64/*.png", "package/LICENSE", "package/package.json"),
)
FLUENT_3D: Final = NpmPackage(
    "@lobehub/fluent-emoji-3d", "1.1.0", "MIT",
    "sha512-Wlq2lVStTnr8BDpIJ0pEnTKO4LuDxxqTEhTvRtD1DLRF0me7ogeRQjKoehDHXuVJ2Qaecgl5wRBv60lUAG3h7g==",
    ("package/assets/*.webp", "package/package.json"),
)
FLUENT_COLOR: Final = NpmPackage(
    "@iconify-json/fluent-emoji", "1.2.7", "MIT",
    "sha512-D8G6bKAyIsyxP1rzZtIWr/gg/fO4Rg1+DyCWlfqKK4h8W+4Em/Y0P6QYgJUQTlUcagzJvSyg+9OBv4hz4Hc/QA==",
    ("package/icons.json", "package/info.json", "package/package.json"),
)
FLUENT_FLAT: Final = NpmPackage(
    "@iconify-json/fluent-emoji-flat", "1.2.6", "MIT",
    "sha512-RY47RgPb47fYUiyrA64sIOL0+UU02s29sXpNBbIQRBUlPlfNFTKUmZDERGuxDs/7yNGWqQYvuaSYM1M4fRXlUw==",
    ("package/icons.json", "package/chars.json", "package/info.json", "package/package.json"),
)
OPENMOJI: Final = NpmPackage(
    "openmoji", "17.0.0", "CC-BY-SA-4.0",
    "sha512-EBnYrNGdcdw+OSXmENeNE1yBNRu6tOraTmoOyUbJkTmvT/+XETp8RZLSJFzD3lrPc5N9CzsyPnRTk0Vp4UaI9w==",
    ("package/color/svg/*.svg", "package/data/openmoji.json", "package/LICENSE.txt", "package/package.json"),
)
EMOJIBASE: Final = NpmPackage(
    "emojibase-data", "17.0.0", "MIT",
    "sha512-Yvgb5AWoHViHV/gq1qr5ZAarcBip+B27/ZLRsUJkbgAEaLlZ/fof9g882LTpmEpyhBNEC0m2SEmItljHsTygjA==",
    ("package/en/data.json", "package/LICENSE", "package/package.json"),
)
EMOJILIB: Final = NpmPackage(
    "emojilib", "4.0.3", "MIT",
    "sha512-KbWiYre9aRSaPbHrHZIz9zmoM+21LAsK1VFJtnTh1VCtWE/rNMDviGhQTmselFl95dhqtGlY22iH0leG5BuW0g==",
    ("package/dist/emoji-en-US.json", "package/LICENSE", "package/package.json"),
)

IMAGE_SOURCES: Final[Mapping[str, ImageSource]] = MappingProxyType({
    "noto": ImageSource(
        "noto", "noto style", GOOGLE, ImageLayout.FILES, "package/img/google/64",
        "Noto Emoji (https://github.com/googlefonts/noto-emoji), Copyright Google LLC: Apache License 2.0 "
        "(https://www.apache.org/licenses/LICENSE-2.0), from the npm package emoji-datasource-google 16.0.0. "
        + _EMOJI_DATASOURCE_CREDIT,
    ),
    "twemoji": ImageSource(
        "twemoji", "twemoji style", TWITTER, ImageLayout.FILES, "package/img/twitter/64",
        # The attribution text Twemoji asks for (https://github.com/jdecked/twemoji#attribution-requirements).
        "Twemoji (https://github.com/jdecked/twemoji): Copyright 2020 Twitter, Inc and other contributors. "
        "Graphics licensed under CC-BY 4.0: https://creativecommons.org/licenses/by/4.0/ . From the npm "
        "package emoji-datasource-twitter 16.0.0. " + _EMOJI_DATASOURCE_CREDIT,
    ),
    "fluent-3d": ImageSource(
        "fluent-3d", "3d style", FLUENT_3D, ImageLayout.FILES, "package/assets",
        _FLUENT_CREDIT + " 3D WebP renderings from the npm package @lobehub/fluent-emoji-3d 1.1.0 "
        "(MIT License, Copyright (c) 2023 LobeHub).",
    ),
    "fluent": ImageSource(
        "fluent", "fluent style", FLUENT_COLOR, ImageLayout.ICONIFY, "package/icons.json",
        _FLUENT_CREDIT + " Colour SVGs from the npm package @iconify-json/fluent-emoji 1.2.7 (MIT).",
        # fluent-emoji ships an empty chars.json; the flat set uses the same icon names and maps them.
        chars_package=FLUENT_FLAT, chars_path="package/chars.json",
    ),
    "fluent-flat": ImageSource(
        "fluent-flat", "flat style", FLUENT_FLAT, ImageLayout.ICONIFY, "package/icons.json",
        _FLUENT_CREDIT + " Flat SVGs from the npm package @iconify-json/fluent-emoji-flat 1.2.6 (MIT).",
        chars_package=FLUENT_FLAT, chars_path="package/chars.json",
    ),
    "openmoji": ImageSource(
        "openmoji", "openmoji style", OPENMOJI, ImageLayout.FILES, "package/color/svg",
        "OpenMoji (https://openmoji.org/): all emojis designed by OpenMoji - the open-source emoji and icon "
        "project. License: CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). From the npm "
        "package openmoji 17.0.0. Share-alike: this dataset, and pictures adapted from it, carry the same "
        "license.",
        labels_path="package/data/openmoji.json", is_holdout_style=True,
    ),
})

BASE_STYLES: Final[tuple[str, ...]] = tuple(s for s, src in IMAGE_SOURCES.items() if not src.is_holdout_style)
HOLDOUT_STYLES: Final[tuple[str, ...]] = tuple(s for s, src in IMAGE_SOURCES.items() if src.is_holdout_style)

LABEL_SOURCES: Final[Mapping[str, LabelSource]] = MappingProxyType({
    "emojibase": LabelSource(
        EMOJIBASE, "package/en/data.json",
        "Labels and tags: emojibase-data 17.0.0 (https://emojibase.dev), MIT License, "
        "Copyright (c) 2017-2019 Miles Johnson.",
    ),
    "emojilib": LabelSource(
        EMOJILIB, "package/dist/emoji-en-US.json",
        "Keywords: emojilib 4.0.3 (https://github.com/muan/emojilib), MIT License, "
        "Copyright (c) 2014 Mu-An Chiou.",
    ),
})

# Artwork that is not openly licensed (deps.md section 5): Apple "not licensed for commercial usage",
# Facebook "no clear licensing", EmojiOne/JoyPixels a restrictive free license.
REFUSED_WORDS: Final[frozenset[str]] = frozenset({"apple", "facebook", "messenger", "emojione", "joypixels"})
REFUSED_NAMES: Final[frozenset[str]] = frozenset({"emoji-toolkit"})  # JoyPixels' own toolkit


def check_allowed(package_name: str) -> None:
    """Refuse packages whose artwork is not openly licensed, by the words of their name."""
    words = set(re.split(r"[-_/@.]+", package_name.lower()))
    refused = sorted(words & REFUSED_WORDS)
    if refused or package_name.lower() in REFUSED_NAMES:
        reason = f"its name has the word(s) {refused}" if refused else "it is JoyPixels' toolkit"
        raise BadInput(
            f"package {package_name!r} is refused: {reason}; Apple, Facebook and EmojiOne/JoyPixels "
            "emoji artwork is not openly licensed",
            hint=f"use one of the permissive styles: {', '.join(BASE_STYLES)}",
        )


def image_source(style: str) -> ImageSource:
    """The source for a style name; unknown names list the valid ones."""
    if style not in IMAGE_SOURCES:
        raise BadInput(f"styles: unknown style {style!r}; valid styles are {', '.join(IMAGE_SOURCES)}")
    return IMAGE_SOURCES[style]
