"""What every CLI command shares: the settings, a Studio opened on first use, and the consoles."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console

from sfumato.settings import Settings
from sfumato.studio import Studio



def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True, emoji=False)  # "[cat:dog:0.5]" must not print a dog emoji


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


@dataclass
class CliContext:
    settings: Settings
    _studio: Studio | None = field(default=None, init=False)

    @property
    def studio(self) -> Studio:
        if self._studio is None:
            self._studio = Studio.open(self.settings)
        return self._studio

    def close(self) -> None:
        if self._studio is not None:
            self._studio.close()
            self._studio = None
