"""The README's first curl session, run verbatim with bash, curl and jq against a real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import LiveServer
from tests.support.paths import REPO

# The README shows this after `copyloop serve` (which the test's server stands in for).
SESSION = r"""
API=${API:-http://127.0.0.1:8000}
KEY=$(copyloop keys create --workspace acme --role marketer)
AUTH="Authorization: Bearer $KEY"

# A brand from its saved web page (or POST {"url": ...} to /v1/brands/from-url)
BRAND=$(curl -sf -H "$AUTH" -F file=@genai/samples/wick-and-willow.html \
  -F url=https://wickandwillow.example/ "$API/v1/brands/from-html" | jq -r .id)

# Variants for a segment: gates, scores and lineage come with each
jq -n --arg brand "$BRAND" '{brand_id: $brand, brief: {
    goal: "Holiday sale on hand-poured candles", offer: "20% off all candles",
    cta_url: "https://wickandwillow.example/collections/holiday", variants_per_segment: 2,
    segments: [{name: "high-spenders", description: "loyal customers who order often"}]}}' |
  curl -sf -H "$AUTH" -H "Content-Type: application/json" -d @- "$API/v1/generations" > generation.json
VARIANT=$(jq -r '.variants["high-spenders"][0].id' generation.json)
curl -sf -H "$AUTH" "$API/v1/variants/$VARIANT/html" > variant.html

# The marketer accepts it
jq -n --arg v "$VARIANT" --arg t "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  '{idempotency_key: "accept-1", variant_id: $v, kind: "accept", event_time: $t}' |
  curl -sf -H "$AUTH" -H "Content-Type: application/json" -d @- "$API/v1/feedback"
"""


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_the_readme_curl_session_creates_a_key_brand_generation_and_feedback(
    server: LiveServer, tmp_path: Path
) -> None:
    work = tmp_path / "session"
    (work / "genai" / "samples").mkdir(parents=True)
    shutil.copy(REPO / "genai" / "samples" / "wick-and-willow.html", work / "genai" / "samples")
    env = {
        **os.environ,
        "API": server.base_url,
        "COPYLOOP_DATABASE_URL": server.settings.database_url or "",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", SESSION],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stored = json.loads(result.stdout.strip().splitlines()[-1])
    assert stored["duplicate"] is False
    generation = json.loads((work / "generation.json").read_text("utf-8"))
    variant = generation["variants"]["high-spenders"][0]
    assert len(generation["variants"]["high-spenders"]) == 2
    assert variant["draft"]["headline"] in (work / "variant.html").read_text("utf-8")
    key = next(line for line in result.stderr.splitlines() if "key" in line and "shown only once" in line)
    assert "marketer key" in key
    token = subprocess.run(
        ["copyloop", "keys", "create", "--workspace", "acme", "--role", "analyst"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    feedback = httpx.get(
        f"{server.base_url}/v1/variants/{variant['id']}/feedback",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert feedback["counts"] == {"accept": 1} and feedback["latest_decision"] == "accept"
