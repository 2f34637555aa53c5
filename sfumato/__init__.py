"""sfumato: a local, private text-to-image studio built on diffusers."""

from __future__ import annotations

__version__ = "0.1.0"
