"""Pure community rules: names, coordinates and distances."""

from __future__ import annotations

import math

from linli.errors import Invalid

EARTH_RADIUS_M = 6_371_000


def clean_name(raw: str, *, field: str, max_len: int = 60) -> str:
    name = " ".join((raw or "").split())
    if not 1 <= len(name) <= max_len:
        raise Invalid(f"community.{field}_invalid", f"{field} must have 1 to {max_len} characters.")
    return name


def check_coordinates(lat: float, lng: float) -> tuple[float, float]:
    if not (math.isfinite(lat) and math.isfinite(lng)) or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise Invalid("community.location_invalid", "Latitude must be within ±90 and longitude within ±180.")
    return round(lat, 6), round(lng, 6)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """Great-circle distance in whole metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return int(round(2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))))
