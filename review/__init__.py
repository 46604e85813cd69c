"""The human review loop without Airflow: the queue, one label document as a reviewer sees it, verify / correct /
reject with optimistic concurrency and an audit trail, standards search, and on-demand labeling.

The review plugin's routes (``plugins/mathlabel_review``) are thin calls into ``review.workspace.ReviewWorkspace``;
the reviewer is always the authenticated user the caller passes in.
"""
