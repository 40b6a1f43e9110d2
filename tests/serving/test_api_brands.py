"""Brands and segments through a real server: kits from JSON, pages and URLs; RFM tiers from orders."""

from __future__ import annotations

import socket

import httpx
import pytest

from serving.routes.brands import FETCH_FAILED
from tests.support.live_server import KIT, LOGO_URL, SAMPLE_PAGE, SAMPLE_URL, LiveServer, api_settings
from tests.support.page_server import page_server, redirect_to


def test_a_brand_from_json_reports_what_its_kit_lacks(api: httpx.Client) -> None:
    response = api.post("/v1/brands", json={"kit": KIT})
    assert response.status_code == 201
    brand = response.json()
    assert brand["name"] == "Lumen Candles" and brand["kit"]["voice"] == ["warm", "calm"]
    assert "address" in brand["completeness"]["missing"] and brand["completeness"]["complete"] is False
    assert any("CAN-SPAM" in w for w in brand["completeness"]["warnings"])
    assert api.get(f"/v1/brands/{brand['id']}").json() == brand
    report = api.get(f"/v1/brands/{brand['id']}/completeness").json()
    assert report == brand["completeness"]


def test_an_invalid_kit_is_refused_naming_the_field(api: httpx.Client) -> None:
    response = api.post("/v1/brands", json={"kit": {"name": "Bad", "palette": ["not a colour"]}})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "kit.palette"
    unknown = api.post("/v1/brands", json={"kit": {"name": "Bad", "colour": "#fff"}})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "kit.colour"
    assert api.post("/v1/brands", json={"kit": KIT, "extra": 1}).json()["error"]["field"] == "extra"


def test_a_second_brand_with_the_same_name_conflicts(api: httpx.Client) -> None:
    assert api.post("/v1/brands", json={"kit": KIT}).status_code == 201
    again = api.post("/v1/brands", json={"kit": KIT})
    assert again.status_code == 409 and again.json()["error"] == {
        "code": "conflict",
        "message": "a brand named 'Lumen Candles' exists",
        "field": "name",
    }


def test_a_page_whose_logo_loads_keeps_it(api: httpx.Client) -> None:
    page = SAMPLE_PAGE.read_text(encoding="utf-8").replace("/cdn/logo-wick-and-willow.svg", "/cdn/logo.png")
    response = api.post(
        "/v1/brands/from-html",
        files={"file": ("page.html", page.encode(), "text/html")},
        data={"url": SAMPLE_URL},
    )
    assert response.status_code == 201, response.text
    assert response.json()["kit"]["logo_url"] == LOGO_URL
    assert not any(w.startswith("logo_url:") for w in response.json()["completeness"]["warnings"])


def test_a_brand_from_an_uploaded_page_reads_name_palette_and_address(api: httpx.Client) -> None:
    response = api.post(
        "/v1/brands/from-html",
        files={"file": ("page.html", SAMPLE_PAGE.read_bytes(), "text/html")},
        data={"url": SAMPLE_URL},
    )
    assert response.status_code == 201, response.text
    brand = response.json()
    assert brand["name"] == "Wick & Willow"
    assert brand["kit"]["palette"] and brand["kit"]["address"]
    assert brand["kit"]["website"].startswith("https://wickandwillow.example")


def test_a_brand_from_a_url_is_fetched_by_the_server(api: httpx.Client) -> None:
    response = api.post("/v1/brands/from-url", json={"url": SAMPLE_URL})
    assert response.status_code == 201 and response.json()["name"] == "Wick & Willow"
    # The page's SVG logo does not load (404 here, and mail clients drop SVG): the name stands in.
    assert response.json()["kit"]["logo_url"] is None
    assert any(
        w.startswith("logo_url: https://wickandwillow.example/cdn/logo-wick-and-willow.svg was left out")
        for w in response.json()["completeness"]["warnings"]
    )
    missing = api.post("/v1/brands/from-url", json={"url": "https://wickandwillow.example/gone"})
    assert missing.status_code == 422
    assert missing.json()["error"] == {"code": "brand_fetch_failed", "message": FETCH_FAILED, "field": "url"}


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://2130706433/", "http://[::1]/"],
)
def test_a_brand_url_on_the_servers_own_network_is_refused_with_the_one_error(
    api: httpx.Client, url: str
) -> None:
    response = api.post("/v1/brands/from-url", json={"url": url})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "brand_fetch_failed", "message": FETCH_FAILED, "field": "url"}


def test_fetching_over_the_network_follows_the_allow_settings(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with page_server() as pages:
        pages.route("/metadata", redirect_to("http://169.254.169.254/latest/meta-data/"))
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        closed.close()  # nothing listens there now
        settings = api_settings(
            database_url,
            tmp_path_factory.mktemp("data"),
            brand_fetch_allow_hosts="127.0.0.1",
            brand_fetch_allow_ports=f"{pages.port},{closed_port}",
        )
        live = LiveServer(settings, real_network=True).start()
        try:
            with live.client(live.tenant()) as client:
                fetched = client.post("/v1/brands/from-url", json={"url": pages.url + "/"})
                assert fetched.status_code == 201, fetched.text
                assert fetched.json()["name"] == "Local Candles"
                # A redirect into the metadata range and a closed port read exactly alike.
                answers = [
                    client.post("/v1/brands/from-url", json={"url": url}).json()["error"]
                    for url in (pages.url + "/metadata", f"http://127.0.0.1:{closed_port}/")
                ]
        finally:
            live.stop()
    assert answers == [{"code": "brand_fetch_failed", "message": FETCH_FAILED, "field": "url"}] * 2
    assert pages.seen == ["/", "/metadata"]


def test_updating_a_brand_changes_only_the_fields_given(api: httpx.Client) -> None:
    brand = api.post("/v1/brands", json={"kit": KIT}).json()
    response = api.patch(f"/v1/brands/{brand['id']}", json={"kit": {"address": "1 High St, York YO1 7HH"}})
    assert response.status_code == 200
    updated = response.json()
    assert updated["kit"]["address"] == "1 High St, York YO1 7HH"
    assert updated["kit"]["voice"] == KIT["voice"] and "address" not in updated["completeness"]["missing"]
    renamed = api.patch(f"/v1/brands/{brand['id']}", json={"kit": {"name": "Lumen & Co"}}).json()
    assert renamed["name"] == "Lumen & Co"
    assert [b["name"] for b in api.get("/v1/brands").json()] == ["Lumen & Co"]
    bad = api.patch(f"/v1/brands/{brand['id']}", json={"kit": {"palette": ["#12"]}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "kit.palette"
    assert api.get(f"/v1/brands/{brand['id']}").json()["kit"]["palette"] == []


def test_segments_list_with_member_counts_of_their_latest_rfm_computation(api: httpx.Client) -> None:
    created = api.post(
        "/v1/segments", json={"name": "vip", "description": "best", "traits": {"spend_tier": "high"}}
    )
    assert created.status_code == 201 and created.json()["members"] == 0
    assert api.post("/v1/segments", json={"name": "vip"}).status_code == 409
    orders = "customer_id,date,amount\n" + "\n".join(
        f"c{i},2024-0{1 + i % 6}-1{i % 9},{10 * (i + 1)}" for i in range(20)
    )
    response = api.post(
        "/v1/segments/rfm", files={"file": ("orders.csv", orders, "text/csv")}, data={"version": "2024-07"}
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["orders"] == 20 and report["contacts"] == 20 and sum(report["members"].values()) == 20
    listed = {s["name"]: s for s in api.get("/v1/segments").json()}
    assert listed["vip"]["members"] == 0
    for name, count in report["members"].items():
        assert listed[name]["members"] == count
        assert listed[name]["version"] == ("2024-07" if count else None)
    again = api.post("/v1/segments/rfm", files={"file": ("orders.csv", orders)}, data={"version": "2024-07"})
    assert again.status_code == 409 and again.json()["error"]["field"] == "version"


def test_an_unreadable_orders_file_is_refused_naming_the_column(api: httpx.Client) -> None:
    response = api.post(
        "/v1/segments/rfm",
        files={"file": ("orders.csv", "customer,when,total\na,2024-01-01,5\n")},
        data={"version": "v1"},
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "customer_id"
    bad_date = api.post(
        "/v1/segments/rfm",
        files={"file": ("orders.csv", "customer_id,date,amount\na,yesterday,5\n")},
        data={"version": "v1"},
    )
    assert bad_date.status_code == 422 and bad_date.json()["error"]["field"] == "date"
    missing_version = api.post("/v1/segments/rfm", files={"file": ("o.csv", "customer_id,date,amount\n")})
    assert missing_version.status_code == 422 and missing_version.json()["error"]["field"] == "version"
