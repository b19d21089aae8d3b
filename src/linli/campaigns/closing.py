"""Closing campaigns at their end (a pre-sale's cut-off, a threshold's close)."""

from __future__ import annotations
