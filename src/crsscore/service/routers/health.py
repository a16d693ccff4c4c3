"""``/api/v1/health``."""

from __future__ import annotations

from fastapi import APIRouter

from crsscore import __version__
from crsscore.service.dependencies import Registry
from crsscore.service.grading_form import grading_available
from crsscore.service.schemas import Health

router = APIRouter()


@router.get("/health", response_model=Health, summary="Service status")
async def health(registry: Registry) -> Health:
    # async: answered on the event loop, not queued behind the worker threads that score
    # batch uploads (nothing here blocks)
    return Health(status="ok", version=__version__, scorecards=len(registry.cards),
                  rejected_scorecards=len(registry.rejected), grading=grading_available())
