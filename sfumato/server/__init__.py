"""The HTTP server: one FastAPI app with the native API (/api), the A1111 API (/sdapi/v1) and the web studio.

Every route translates its input into a Recipe and submits it to the studio's job queue; nothing here
imports torch (the engine is reached only from the worker thread).
"""

from __future__ import annotations

from sfumato.server.app import create_app
from sfumato.server.limits import Limits

__all__ = ["Limits", "create_app"]
