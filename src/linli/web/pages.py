"""HTML pages: mounted by the app factory (filled in by the web shell)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    return None
