"""Airflow-side code: custom operators, sensors, and the connection-id → client module."""
