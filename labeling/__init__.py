"""Problem and label schemas, ingest, validation, retrieval, labelers and the batch pipeline."""
