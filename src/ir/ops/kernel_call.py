"""Op declarations: kernel_call family."""
from __future__ import annotations
