"""The ec2_training task group, run by Airflow (dag.test()) against moto's EC2 and SSM server.

moto runs every SSM command as an instant `Success` with empty output; the tests choose the outcome by patching
moto's own ``Command`` model (the server runs in this process), so Airflow still talks to it over HTTP through the
provider's hooks and waiters, and the failure is the one real SSM reports (status `Failed`, non-zero exit code).

The success and failure tests run twice: waiting in the worker (``deferrable=False``) and in the trigger
(``deferrable=True``, run inline by dag.test()). The trigger needs ``aiobotocore`` (not in requirements.txt yet: the
current aiobotocore pins an older botocore), so that variant is skipped without it; and it calls
``ListCommandInvocations``, which moto 5.2 lacks, so the test adds that call to moto's SSM responses.
"""

from __future__ import annotations

import importlib.util
import itertools
import json

import pytest

from tests.moto_server import moto_server

pytestmark = pytest.mark.dag

CONN_ID = "aws_moto"
REGION = "us-east-1"
GROUP = "ec2_training"
STEPS = ["size", "start", "run", "collect", "stop", "check"]
SNAPSHOT = "s3://mathlabel/input-data/snap-1"
DAG_IDS = {False: "ec2_training_blocking", True: "ec2_training_deferred"}
BUNDLE_CLASS = "airflow.dag_processing.bundles.local.LocalDagBundle"


@pytest.fixture(scope="module")
def airflow_db(settings):
    """Only Airflow's metadata database: these tests need no other embedded service."""
    from mathlabel.services import Stack

    (status,) = Stack(settings).up(["airflow"])
    assert status.ok, status


@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server(CONN_ID, REGION) as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint):
    """boto3 clients of a freshly reset moto.

    Reset, because moto sends a command without ``Targets`` to every instance it knows as well as to ``InstanceIds``.
    """
    import urllib.request

    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    return {name: boto3.client(name, endpoint_url=moto_endpoint, region_name=REGION) for name in ("ec2", "ssm")}


@pytest.fixture
def instance_id(aws) -> str:
    """A stopped instance, as the training instance waits between nightly runs."""
    ec2 = aws["ec2"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    (instance,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="g5.xlarge")["Instances"]
    ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    return instance["InstanceId"]


def _command_outcome(monkeypatch, *, status: str, code: int, stdout: str = "", stderr: str = "") -> None:
    """Make every SSM command sent from now on end with this status, exit code and output."""
    from moto.ssm.models import Command

    original = Command.invocation_response

    def invocation_response(self, instance_id, plugin_name):
        invocation = original(self, instance_id, plugin_name)
        invocation.update(Status=status, StatusDetails=status, ResponseCode=code)
        invocation.update(StandardOutputContent=stdout, StandardErrorContent=stderr)
        return invocation

    monkeypatch.setattr(Command, "invocation_response", invocation_response)


def build_dag(deferrable: bool):
    """The shape of nightly_retraining around the group: a branch between the group and local training."""
    from airflow.sdk import DAG, task

    from operators.ec2_training import FIRST, ec2_training

    with DAG(
        DAG_IDS[deferrable], schedule=None, params={"ec2_instance_id": "", "compute": "ec2", "instance_type": ""}
    ) as dag:

        @task
        def snapshot() -> str:
            return SNAPSHOT

        @task.branch
        def route(compute: str) -> str:
            return f"{GROUP}.{FIRST}" if compute == "ec2" else "train_local"

        @task
        def train_local() -> str:
            return "trained here"

        @task(trigger_rule="none_failed_min_one_success")
        def trained() -> str:
            return "trained"

        remote = ec2_training(
            group_id=GROUP,
            instance_id="{{ params.ec2_instance_id }}",
            command="train --snapshot {{ ti.xcom_pull(task_ids='snapshot') }} --run {{ run_id }}",
            aws_conn_id=CONN_ID,
            execution_timeout_minutes=5,
            deferrable=deferrable,
            instance_type="{{ params.instance_type }}",
        )
        snapshot() >> route("{{ params.compute }}") >> [train_local(), remote] >> trained()
    return dag


@pytest.fixture(scope="module")
def dags(airflow_db, tmp_path_factory):
    """The test DAGs, also in a DAG bundle of their own: dag.test() runs only DAGs that a bundle serialized."""
    folder = tmp_path_factory.mktemp("ec2_training_bundle")
    # The words "airflow" and "dag" must appear in the file, or the DagBag's safe mode skips it.
    code = (
        f"# airflow DAGs\nfrom {__name__} import build_dag\n\nblocking = build_dag(False)\ndeferred = build_dag(True)\n"
    )
    (folder / "ec2_training_dags.py").write_text(code)
    bundles = [
        {"name": "dags-folder", "classpath": BUNDLE_CLASS, "kwargs": {}},
        {"name": "ec2-training-test", "classpath": BUNDLE_CLASS, "kwargs": {"path": str(folder)}},
    ]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        yield {deferrable: build_dag(deferrable) for deferrable in DAG_IDS}


def _list_command_invocations(self):
    """SSM ListCommandInvocations for one command, which moto lacks and the deferrable trigger calls first."""
    from moto.core.responses import ActionResult

    command = self.ssm_backend.get_command_by_id(self._get_param("CommandId"))
    keys = ("CommandId", "InstanceId", "Comment", "DocumentName", "Status", "StatusDetails")
    return ActionResult({"CommandInvocations": [{k: inv[k] for k in keys} for inv in command.invocations]})


@pytest.fixture(
    params=[
        pytest.param(False, id="blocking"),
        pytest.param(
            True,
            id="deferred",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("aiobotocore") is None, reason="the AWS triggers need aiobotocore"
            ),
        ),
    ]
)
def dag(request, dags, monkeypatch):
    if request.param:
        from moto.ssm.responses import SimpleSystemManagerResponse

        monkeypatch.setattr(
            SimpleSystemManagerResponse, "list_command_invocations", _list_command_invocations, raising=False
        )
    return dags[request.param]


def _run(dag, instance_id: str, compute: str = "ec2", instance_type: str = ""):
    """One run of the DAG on this instance; returns the run and its task instances by task id within the group."""
    # Every param, every time: dag.test() keeps the previous run's conf on the shared DAG object.
    run = dag.test(run_conf={"ec2_instance_id": instance_id, "compute": compute, "instance_type": instance_type})
    return run, {ti.task_id.removeprefix(f"{GROUP}."): ti for ti in run.get_task_instances()}


def _state(aws, instance_id: str) -> str:
    (reservation,) = aws["ec2"].describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservation["Instances"][0]["State"]["Name"]


def _collected(ti) -> dict:
    """The return value a task instance pushed to XCom."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    query = XComModel.get_many(run_id=ti.run_id, dag_ids=ti.dag_id, task_ids=ti.task_id, key="return_value")
    with create_session() as session:
        (xcom,) = session.scalars(query).all()
        return XComModel.deserialize_value(xcom)


def test_a_command_runs_on_the_started_instance_which_is_stopped_after(dag, aws, instance_id, monkeypatch):
    _command_outcome(monkeypatch, status="Success", code=0, stdout="epoch 1\n" + "x" * 5000 + "\nbest map50=0.91\n")

    run, tis = _run(dag, instance_id, instance_type="g6.2xlarge")

    assert run.state == "success", {k: ti.state for k, ti in tis.items()}
    (reservation,) = aws["ec2"].describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservation["Instances"][0]["InstanceType"] == "g6.2xlarge"  # resized while stopped, before start
    assert {s: tis[s].state for s in [*STEPS, "train_local", "trained"]} == {
        **dict.fromkeys(STEPS, "success"),
        "train_local": "skipped",
        "trained": "success",
    }
    for before, after in itertools.pairwise([*STEPS, "trained"]):
        assert tis[before].end_date <= tis[after].start_date, f"{before} did not finish before {after} started"
    assert _state(aws, instance_id) == "stopped"

    # The command that reached SSM is the rendered one, on the rendered instance, with the timeout given.
    (command,) = aws["ssm"].list_commands(InstanceId=instance_id)["Commands"]
    assert command["DocumentName"] == "AWS-RunShellScript" and command["InstanceIds"] == [instance_id]
    assert command["Parameters"] == {
        "commands": [f"train --snapshot {SNAPSHOT} --run {run.run_id}"],
        "executionTimeout": ["300"],
    }

    summary = _collected(tis["collect"])
    assert summary["command_id"] == command["CommandId"] and summary["instance_id"] == instance_id
    assert (summary["status"], summary["response_code"]) == ("Success", 0)
    assert summary["stdout_tail"].endswith("best map50=0.91\n") and len(summary["stdout_tail"]) == 2000
    assert _collected(tis["check"]) == summary


def test_a_failed_command_still_stops_the_instance_and_fails_the_run(dag, aws, instance_id, monkeypatch):
    _command_outcome(monkeypatch, status="Failed", code=3, stdout="epoch 1\n", stderr="CUDA out of memory\n")

    run, tis = _run(dag, instance_id)

    assert run.state == "failed"
    assert {s: tis[s].state for s in [*STEPS, "trained"]} == {
        "size": "success",
        "start": "success",
        "run": "failed",
        "collect": "success",
        "stop": "success",
        "check": "upstream_failed",
        "trained": "upstream_failed",
    }
    assert tis["collect"].end_date <= tis["stop"].start_date
    assert _state(aws, instance_id) == "stopped"

    # collect found the failed command without run's return value, and kept the output worth reading.
    (command,) = aws["ssm"].list_commands(InstanceId=instance_id)["Commands"]
    summary = _collected(tis["collect"])
    assert summary["command_id"] == command["CommandId"]
    assert (summary["status"], summary["response_code"]) == ("Failed", 3)
    assert summary["stderr_tail"] == "CUDA out of memory\n"


def test_a_run_that_trains_locally_leaves_the_instance_alone(dags, aws, instance_id):
    aws["ec2"].start_instances(InstanceIds=[instance_id])  # running, so that a stray `stop` would show

    run, tis = _run(dags[False], instance_id, compute="local")

    assert run.state == "success"
    assert {s: tis[s].state for s in [*STEPS, "train_local", "trained"]} == {
        **dict.fromkeys(STEPS, "skipped"),
        "train_local": "success",
        "trained": "success",
    }
    assert _state(aws, instance_id) == "running"
    assert aws["ssm"].list_commands(InstanceId=instance_id)["Commands"] == []
