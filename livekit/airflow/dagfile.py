"""The DAG file a deployment mounts into Airflow's dags folder (``livekit airflow dag``).

A few lines: it imports :mod:`livekit.airflow.dags` (installed with the ``airflow`` extra on
every Airflow component) and puts the DAGs it builds at module level, where Airflow finds
them. The project (notebooks/, params/) is the folder given here, or ``LIVEKIT_PROJECT`` on the
machine that parses the file. No Airflow import here: the CLI writes the file without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path

PROJECT_ENV = "LIVEKIT_PROJECT"


@dataclass(frozen=True)
class DagFileOptions:
    """What the DAG file passes to :func:`livekit.airflow.dags.build_dags`."""

    project: Path
    done_by: time | None = None
    done_within_minutes: int = 60  # 0 with no done_by: no deadline
    retries: int = 2
    retry_delay_minutes: int = 5
    sync_before_reports: bool = True
    prefix: str = "livekit_"  # of every DAG id (several projects in one Airflow: one each)


def dag_file_text(options: DagFileOptions) -> str:
    """The Python source of the DAG file."""
    done_by = f'"{options.done_by:%H:%M}"' if options.done_by is not None else "None"
    within = (
        f"timedelta(minutes={options.done_within_minutes})"
        if options.done_within_minutes > 0
        else "None"
    )
    return f'''"""livekit 的 Airflow DAG：由 `livekit airflow dag` 生成，放进 Airflow 的 dags 文件夹。

每个 params/schedules.yaml 条目一个 DAG（北京时间的 cron）：读取店铺清单 → 逐店铺同步 →
逐店铺运行报告并发布到对象存储 → 更新报告索引；sync 条目只同步。
Airflow 的每台机器都要安装 douyin-livekit[airflow,s3,redis] 并注册报告用的 Jupyter 内核
（python -m ipykernel install --sys-prefix --name livekit），设置 LIVEKIT_STORE_URL（对象存储）、
LIVEKIT_REDIS_URL（共享限速与令牌）和两个平台的凭据；项目目录（notebooks/、params/）在
PROJECT，或由环境变量 {PROJECT_ENV} 指定。修改选项请重新运行 `livekit airflow dag`。
"""

import os
from datetime import timedelta

from livekit.airflow.dags import build_dags

PROJECT = os.environ.get("{PROJECT_ENV}") or {str(options.project)!r}

globals().update(
    build_dags(
        PROJECT,
        done_by={done_by},  # 北京时间的截止时间：当天在此之前触发的运行须在此前完成
        done_within={within},  # 其他运行：计划时间之后多久内完成（None：不设截止）
        retries={options.retries},
        retry_delay=timedelta(minutes={options.retry_delay_minutes}),
        sync_before_reports={options.sync_before_reports!r},
        prefix={options.prefix!r},  # DAG id = 前缀 + 条目名
    )
)
'''
