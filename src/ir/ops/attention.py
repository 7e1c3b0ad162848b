"""Op declarations: attention family."""
from __future__ import annotations
