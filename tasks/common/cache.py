"""The one cache root: converted models, joined GGUF files, evaluation exports, indexes, logs.

``$SYNTHEMBED_CACHE`` when set and not empty, else ``~/.cache/synthembed``. Every stage and
service asks here, so an empty variable (``SYNTHEMBED_CACHE=``) means the default everywhere.

>>> import os
>>> os.environ["SYNTHEMBED_CACHE"] = ""
>>> cache_root() == Path.home() / ".cache" / "synthembed"
True
>>> os.environ["SYNTHEMBED_CACHE"] = "/tmp/c"; str(cache_root("eval"))
'/tmp/c/eval'
>>> del os.environ["SYNTHEMBED_CACHE"]
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(*parts: str) -> Path:
    """The cache root, or a folder under it (not created)."""
    root = os.environ.get("SYNTHEMBED_CACHE") or Path.home() / ".cache" / "synthembed"
    return Path(root).joinpath(*parts)
