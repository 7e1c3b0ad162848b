"""Op declarations: softmax family."""
from __future__ import annotations
