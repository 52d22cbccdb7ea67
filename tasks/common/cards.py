"""Helpers every card shares (the dataset card, the model card): YAML values, and nothing secret.

Credentials come from the environment and never appear in a URL here, but a URL is where a
user could paste them, so :func:`public_url` drops any ``user:password@`` and query string, and
settings whose names look like credentials (:data:`SECRET_NAME`) are left out of cards.

>>> public_url("s3://AKIA:hunter2@bucket/runs/r1?X-Amz-Signature=abc")
's3://bucket/runs/r1'
>>> bool(SECRET_NAME.search("llm_api_key")), yaml_string("a: b")
(True, '"a: b"')
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit, urlunsplit

SECRET_NAME = re.compile(r"key|token|secret|passw|auth|credential|cookie", re.IGNORECASE)


def public_url(url: str) -> str:
    """``url`` without ``user:password@``, query string or fragment (signed URLs carry keys there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", "")) if parts.scheme else url


def yaml_string(text: str) -> str:
    """A YAML scalar for any text: a JSON string is valid YAML."""
    return json.dumps(text, ensure_ascii=False)
