"""First-party feedback store: database, events, experiments and their statistics, features and datasets.

Import what you need from the module that defines it (``from feedback.catalog import create_brand``);
the package itself exports nothing, so ``import feedback.db`` (the API server, a worker process) does
not pay for pandas and the CSV importers.

- The store: `models` (the tables; stored rows end in ``Row`` where a library value has the plain
  name, as `FeatureDefinitionRow` holds a `features.FeatureDefinition`), `db` (engines, sessions,
  migrations), `tenancy` (workspaces, queries scoped to one), `errors`, `bulk`, `walcheckpoint`,
  `api_keys` (issuing, hashing and looking up API keys).
- What a workspace holds: `catalog` (brands, segments, campaigns, requests, variants), `contacts`,
  `privacy` (scrubbing, erasure), `rfm` (segments from orders).
- Events: `events` (incoming formats), `ingest` (idempotent batches), `batches` (a batch's size cap,
  the rows the store cannot take, all or nothing), `csv_import`, `webhooks` (e-mail platforms').
- Experiments: `assignment`, `experiment_store`, `experiments` (decisions), `stats`.
- Features and datasets: `features`, `registry`, `pit` (point-in-time joins), `manifest`, `datasets`
  (frames and builds from the tables), `dataset_store` (stored datasets and their files),
  `preferences` (tuning pairs).
"""
