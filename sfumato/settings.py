"""Settings: where sfumato keeps its state (one home folder) and its defaults; loaded once by the entry point.

Every piece of state lives under `home`: config, the picture library and its index, model folders,
caches. `SFUMATO_HOME` or `--home DIR` choose another home; the default is the platform's user data dir.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("sfumato", appauthor=False))


class Settings(BaseSettings):
    """Configuration read from the environment (`SFUMATO_*`) and arguments, never changed while running."""

    model_config = SettingsConfigDict(env_prefix="SFUMATO_", frozen=True, extra="forbid")

    home: Path = Field(default_factory=default_home)
    library_dir: Path | None = Field(default=None, description="Picture library; default <home>/library.")
    model_dirs: tuple[Path, ...] = Field(
        default=(),
        description="Extra model roots to scan; each may be an A1111 install (models/Stable-diffusion, models/Lora, embeddings).",
    )
    default_model: str = "sfumato-emoji"  # the embedded model (models/embedded/); SFUMATO_DEFAULT_MODEL changes it
    write_sidecar: bool = Field(default=True, description="Write a YAML recipe next to every picture.")

    @property
    def library_path(self) -> Path:
        return self.library_dir if self.library_dir is not None else self.home / "library"

    @property
    def models_root(self) -> Path:
        return self.home / "models"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def model_roots(self) -> tuple[Path, ...]:
        """The home's own models folder first, then the configured ones."""
        return (self.home, *self.model_dirs)
