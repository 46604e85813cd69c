"""Run a given shell command on an EC2 (GPU) instance through SSM Run Command, as a reusable TaskGroup.

``size`` → ``start`` → ``run`` → ``collect`` → ``stop`` → ``check``:

- ``size`` gives the stopped instance the requested instance type, if one is given and differs;
- ``start`` starts the instance and waits until it is running;
- ``run`` sends the command (``AWS-RunShellScript``) and waits for it, deferred to the triggerer by default; a
  command that fails, times out or is cancelled fails this task;
- ``collect`` returns ``{command_id, instance_id, status, response_code, stdout_tail, stderr_tail}``, also after a
  failed command, whose output is the one worth reading;
- ``stop`` stops the instance whatever happened before it;
- ``check`` (``all_success`` on ``run``, ``collect`` and ``stop``) is the group's only leaf. A DAG run's state is
  computed from its leaves, so without it a succeeding ``stop`` would turn a failed command into a successful run,
  and tasks downstream of the group would start. It passes ``collect``'s summary on as its XCom.

``collect`` and ``stop`` are teardowns of the setup ``start``: they run whenever ``start`` succeeded, also after a
failed command; they are skipped when the group is (a branch chose local training), and do not run when the group was
never reached because something upstream failed (nothing was started). Teardowns do not decide the run's state, so
``check`` does.

The amazon provider is imported inside the factory and the tasks, so importing this module is cheap; calling the
factory (at DAG parse) imports the provider's operators and boto3, about 0.7 s.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from airflow.sdk import TaskGroup, get_current_context, task

DOCUMENT = "AWS-RunShellScript"
FIRST = "size"  # the group's entry task: a branch into the group names "<group_id>.size"
WAITER_DELAY_SECONDS = 30
TAIL_CHARS = 2000
# Slack beyond the command's own timeout: SSM delivery to a freshly started instance, and the final status poll.
_GRACE_MINUTES = 10


def _tail(text: str | None) -> str:
    return (text or "")[-TAIL_CHARS:]


def ec2_training(
    *,
    group_id: str = "ec2_training",
    instance_id: str,
    command: str,
    aws_conn_id: str = "aws_default",
    region_name: str | None = None,
    execution_timeout_minutes: int = 120,
    deferrable: bool = True,
    instance_type: str = "",
) -> TaskGroup:
    """Build the task group that runs ``command`` on a stopped EC2 instance and stops it again.

    Args:
        group_id: Id of the task group (task ids are ``<group_id>.start`` and so on).
        instance_id: EC2 instance id; may be a Jinja template (``"{{ params.ec2_instance_id }}"``).
        command: The one shell command to run; may be a Jinja template (``{{ ti.xcom_pull(...) }}``).
        aws_conn_id: Airflow connection for AWS.
        region_name: AWS region; ``None`` takes the connection's.
        execution_timeout_minutes: The command's own timeout on the instance (SSM ``executionTimeout``); the
            ``run`` task gives up a little later.
        deferrable: Wait for the command in the triggerer (needs ``aiobotocore`` where the triggerer runs).
        instance_type: When set (may be a template) and different from the stopped instance's type, ``size``
            changes the type before ``start``; "" keeps the instance as it is.

    Returns:
        The task group; its only leaf, ``check``, returns ``collect``'s summary.
    """
    from airflow.providers.amazon.aws.operators.ec2 import EC2StartInstanceOperator, EC2StopInstanceOperator
    from airflow.providers.amazon.aws.operators.ssm import SsmRunCommandOperator

    aws = {"aws_conn_id": aws_conn_id, "region_name": region_name}
    with TaskGroup(group_id=group_id) as group:
        # Stamped on the command as its Comment (100 characters at most), so that `collect` can find the command
        # of this group in this DAG run even when `run` failed and its return value (the command id) was lost.
        marker = "{{ (ti.dag_id ~ ' ' ~ '" + group.group_id + "' ~ ' ' ~ run_id)[:100] }}"

        @task(task_id="size")
        def size(instance_id: str, instance_type: str, aws_conn_id: str, region_name: str | None) -> str:
            """Give the stopped instance the requested type (EC2 changes types only while an instance is stopped)."""
            from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook

            client = EC2Hook(aws_conn_id=aws_conn_id, region_name=region_name, api_type="client_type").conn
            (reservation,) = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
            current, state = reservation["Instances"][0]["InstanceType"], reservation["Instances"][0]["State"]["Name"]
            if not instance_type or instance_type == current:
                return current
            if state != "stopped":
                print(f"{instance_id} is {state} as {current}: left as it is, not resized to {instance_type}")
                return current
            client.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})
            print(f"{instance_id}: instance type {current} → {instance_type}")
            return instance_type

        start = EC2StartInstanceOperator(task_id="start", instance_id=instance_id, **aws)
        size(instance_id, instance_type, aws_conn_id, region_name) >> start

        run = SsmRunCommandOperator(
            task_id="run",
            document_name=DOCUMENT,
            # run_command_kwargs is a templated field: the instance id and the command are rendered in it.
            run_command_kwargs={
                "InstanceIds": [instance_id],
                "Comment": marker,
                "Parameters": {"commands": [command], "executionTimeout": [str(execution_timeout_minutes * 60)]},
            },
            wait_for_completion=True,
            fail_on_nonzero_exit=True,
            deferrable=deferrable,
            waiter_delay=WAITER_DELAY_SECONDS,
            waiter_max_attempts=math.ceil((execution_timeout_minutes + _GRACE_MINUTES) * 60 / WAITER_DELAY_SECONDS),
            execution_timeout=timedelta(minutes=execution_timeout_minutes + _GRACE_MINUTES),
            **aws,
        )

        @task(task_id="collect")
        def collect(instance_id: str, marker: str, aws_conn_id: str, region_name: str | None) -> dict[str, Any]:
            """Status and output tails of this run's command: ids and short text only."""
            from airflow.providers.amazon.aws.hooks.ssm import SsmHook

            hook = SsmHook(aws_conn_id=aws_conn_id, region_name=region_name)
            command_id = get_current_context()["ti"].xcom_pull(task_ids=run.task_id)
            if not command_id:
                pages = hook.conn.get_paginator("list_commands").paginate(InstanceId=instance_id)
                ours = [c for page in pages for c in page["Commands"] if c.get("Comment") == marker]
                if not ours:  # `start` failed, or sending did: stop must still run, so this task must not skip
                    return {"command_id": None, "instance_id": instance_id, "status": None}
                command_id = max(ours, key=lambda c: c["RequestedDateTime"])["CommandId"]
            invocation = hook.get_command_invocation(command_id, instance_id)
            return {
                "command_id": command_id,
                "instance_id": instance_id,
                "status": invocation.get("Status"),
                "response_code": invocation.get("ResponseCode"),
                # SSM keeps the first 24,000 characters of each stream; the tail of that is enough for a log line.
                "stdout_tail": _tail(invocation.get("StandardOutputContent")),
                "stderr_tail": _tail(invocation.get("StandardErrorContent")),
            }

        summary = collect(instance_id, marker, aws_conn_id, region_name)

        stop = EC2StopInstanceOperator(task_id="stop", instance_id=instance_id, **aws)

        @task(task_id="check")
        def check(summary: dict[str, Any]) -> dict[str, Any]:
            """Succeed only when the command succeeded and the instance was stopped; pass the summary on."""
            if summary["status"] != "Success":
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(f"SSM command {summary['command_id']} ended {summary['status']}")
            return summary

        done = check(summary)
        start >> run >> summary >> stop >> done
        run >> done
        # collect and stop are start's teardowns: they run whenever start succeeded (also after a failed command),
        # are skipped with a branched-away group, and do not run when the group was never reached (nothing started).
        summary.as_teardown(setups=start)
        stop.as_teardown(setups=start)
    return group
