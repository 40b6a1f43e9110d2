"""Datasets: point-in-time feature datasets built from a spine, their manifests and downloads."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from feedback.dataset_store import SpineDefinition, build_and_store, dataset_file, register_builtins
from feedback.datasets import StoredDataset, get_stored_dataset, list_stored_datasets
from feedback.features import definition_to_dict
from feedback.manifest import read_parquet
from serving.deps import Analyst, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS, Limit, Offset
from serving.schemas import DatasetCreate, DatasetOut, FeatureOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["datasets"], responses=COMMON_ERRORS)

PARQUET_TYPE = "application/vnd.apache.parquet"


def _out(stored: StoredDataset) -> DatasetOut:
    manifest = stored.manifest.to_dict()
    base = f"/v1/datasets/{stored.id}"
    return DatasetOut(
        id=stored.id,
        created_at=stored.created_at,
        row_count=stored.manifest.row_count,
        columns=list(stored.manifest.columns),
        spine=stored.spine_definition,
        manifest=manifest,
        links={"parquet": f"{base}/download?format=parquet", "csv": f"{base}/download?format=csv"},
    )


@router.get("/features")
def list_features(key: Analyst, session: SessionDep) -> list[FeatureOut]:
    """The built-in features, each at its registered version in this workspace."""
    with session.begin():
        out = []
        for registered in register_builtins(session, key.workspace_id):
            data = definition_to_dict(registered.definition)
            out.append(
                FeatureOut(
                    name=registered.name,
                    version=registered.version,
                    hash=registered.hash,
                    description=data["description"],
                    owner=data["owner"],
                    entity=data["entity"],
                    value_type=data["value_type"],
                    ttl_seconds=data["ttl_seconds"],
                )
            )
        return out


@router.post("/datasets", status_code=201)
def create_dataset(body: DatasetCreate, key: Analyst, session: SessionDep, runtime: RuntimeDep) -> DatasetOut:
    """Build a point-in-time dataset: one row per spine row, each feature's latest value known then.

    The manifest records feature versions and hashes, the spine hash, time bounds, row count,
    content hash and the model and prompt versions of the variants the spine covers.
    """
    spine = body.spine
    spec = SpineDefinition(
        source=spine.source,
        start=spine.start,
        end=spine.end,
        rows=tuple((r.variant_id, r.ts) for r in spine.rows or ()),
    )
    record = spine.model_dump(mode="json", exclude={"rows"})
    record["rows"] = len(spine.rows or ())
    record["as_of"] = body.as_of.isoformat() if body.as_of else None
    with session.begin():
        stored = build_and_store(
            session,
            key.workspace_id,
            spec,
            body.features,
            as_of=body.as_of,
            data_dir=runtime.settings.data_dir,
            spine_record=record,
        )
        return _out(stored)


@router.get("/datasets")
def list_datasets(
    key: Analyst, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> list[DatasetOut]:
    """The workspace's datasets, newest first."""
    with session.begin():
        stored = list_stored_datasets(
            session, key.workspace_id, newest_first=True, limit=limit, offset=offset
        )
        return [_out(dataset) for dataset in stored]


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, key: Analyst, session: SessionDep) -> DatasetOut:
    """A dataset's manifest."""
    with session.begin():
        return _out(get_stored_dataset(session, key.workspace_id, dataset_id))


@router.get(
    "/datasets/{dataset_id}/download",
    response_model=None,
    responses={
        200: {
            "description": "The dataset file (Parquet carries the manifest in its metadata).",
            "content": {
                PARQUET_TYPE: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
def download_dataset(
    dataset_id: str,
    key: Analyst,
    session: SessionDep,
    runtime: RuntimeDep,
    format: Literal["parquet", "csv"] = "parquet",
) -> Response:
    """Download a dataset as Parquet (with its manifest) or CSV."""
    with session.begin():
        path = dataset_file(session, runtime.settings.data_dir, key.workspace_id, dataset_id)
    if format == "parquet":
        return FileResponse(path, media_type=PARQUET_TYPE, filename=f"dataset-{dataset_id}.parquet")
    frame, _ = read_parquet(path)
    return Response(
        frame.to_csv(index=False),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="dataset-{dataset_id}.csv"'},
    )
