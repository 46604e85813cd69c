"""Registers the review workspace with Airflow: its FastAPI app at ``/mathlabel``, two views of its page, "Review"
in the navigation and a "Review" tab on each ``batch_labeling`` run (opening that run's queue), and "Health" in the
navigation (plots over the last runs, ``/mathlabel/health``).

The app is created when the API server loads plugins; it reaches the stores only on the first request.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from plugins.mathlabel_review.app import create_app

URL_PREFIX = "/mathlabel"


class MathlabelReviewPlugin(AirflowPlugin):
    name = "mathlabel_review"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "mathlabel review"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Review",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "mathlabel-review",
            "icon": f"{URL_PREFIX}/static/icon.svg",
        },
        {
            "name": "Health",
            "href": f"{URL_PREFIX}/health",
            "destination": "nav",
            "url_route": "mathlabel-health",
            "icon": f"{URL_PREFIX}/static/health-icon.svg",
            # Two or more nav views that are not top level fold into Airflow's "Plugins" menu: Health stands beside
            # Review in the navigation instead of hiding both behind it.
            "nav_top_level": True,
        },
        {
            # Airflow fills {DAG_ID} and {RUN_ID}. The tab shows on every DAG's runs; only batch_labeling runs (and
            # on-demand labeling) write label documents, so another DAG's run shows an empty queue.
            "name": "Review",
            "href": f"{URL_PREFIX}/?dag_id={{DAG_ID}}&run_id={{RUN_ID}}&status=any",
            "destination": "dag_run",
            "url_route": "mathlabel-run-review",
        },
    ]
