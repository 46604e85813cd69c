"""Airflow plugins: the review UI/API and metric listeners (labeling-engine and review issues).

Airflow loads this folder as its plugins folder (``AIRFLOW__CORE__PLUGINS_FOLDER``); nothing is registered yet.
"""
