"""Dependencies shared by routes, as ``Annotated`` aliases so signatures stay short."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from emg_core.parser_pool import ParserPool
from service.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_parser_pool(request: Request) -> ParserPool:
    """The pool starts in the background at startup; wait for it on the first requests."""
    return await request.app.state.parser_pool


SettingsDep = Annotated[Settings, Depends(get_settings)]
ParserPoolDep = Annotated[ParserPool, Depends(get_parser_pool)]
