"""Op declarations: rnn family."""
from __future__ import annotations
