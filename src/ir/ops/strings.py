"""Op declarations: strings family."""
from __future__ import annotations
