"""Airflow plugins: the review workspace (``mathlabel_review``, registered by ``mathlabel_review_plugin.py``).

Airflow loads this folder as its plugins folder (``AIRFLOW__CORE__PLUGINS_FOLDER``); ``.airflowignore`` keeps it from
importing the workspace's modules a second time under other names.
"""
