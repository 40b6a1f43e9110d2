"""Adapters the tests serve beside the default one."""

from __future__ import annotations

# A second shipped adapter a vLLM server loads beside the default, for requests that name it.
OTHER_ADAPTER = "email-v2"
