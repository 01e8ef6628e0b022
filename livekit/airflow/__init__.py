"""livekit on Airflow (issue 15): DAGs built from ``params/schedules.yaml`` and the shops file.

- :mod:`livekit.airflow.tasks`: what each task does, as plain functions (no Airflow import);
- :mod:`livekit.airflow.dags`: the DAGs (imports Airflow: the ``airflow`` extra,
  ``pip install douyin-livekit[airflow]``); a DAG file imports it;
- :mod:`livekit.airflow.dagfile`: the text of that DAG file (``livekit airflow dag``);
- :mod:`livekit.airflow.callbacks`: what a missed deadline calls.

Importing this package imports nothing heavy: the CLI reads :mod:`.dagfile` without Airflow.
"""
