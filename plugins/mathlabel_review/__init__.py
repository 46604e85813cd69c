"""The review workspace inside the Airflow UI: a FastAPI app (``app``), its login and permission rules (``auth``), and
the page (``static/``). ``plugins/mathlabel_review_plugin.py`` registers it with Airflow."""
