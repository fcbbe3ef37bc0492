"""Regenerate scanner/_prefilter_cache.json from the shipped indicator table (run: python tests/_gen_prefilter_cache.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from scanner.prefilter import CACHE_FILE, build_cache

PACKAGE = Path(__file__).resolve().parent.parent / "scanner"


def shipped_patterns() -> list[str]:
    """Every pattern of the shipped table (the default model's table is a copy of it)."""
    table = tomllib.loads((PACKAGE / "indicators.toml").read_text(encoding="utf-8"))
    return [p for entry in table["indicator"] for p in (*entry.get("patterns_en", []), *entry.get("patterns_zh", []))]


def cache_text() -> str:
    return build_cache(shipped_patterns())


if __name__ == "__main__":
    (PACKAGE / CACHE_FILE).write_text(cache_text(), encoding="utf-8")
    print(f"wrote {PACKAGE / CACHE_FILE}")
