"""FastAPI dependencies: the Studio and the Limits the app was created with (from app.state, never globals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sfumato.server.limits import Limits
from sfumato.studio import Studio


def get_studio(request: Request) -> Studio:
    studio: Studio = request.app.state.studio
    return studio


def get_limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


StudioDep = Annotated[Studio, Depends(get_studio)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
