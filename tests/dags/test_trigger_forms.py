"""Every DAG's trigger form in the Airflow UI can be submitted with its defaults."""

import pytest

from mathlabel.config import PROJECT_ROOT

pytestmark = pytest.mark.dag


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    # Parsing needs no running service: the schedules read settings only.
    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def _form_blocks(schema: dict, value) -> bool:
    """Whether Airflow 3's trigger form refuses this field's default, keeping the Trigger button disabled.

    The form's rule (airflow-core/src/airflow/ui/src/components/FlexibleForm/isParamRequired.tsx and
    FlexibleForm.tsx ``recheckSection``): a field is required when its schema has a ``type`` that is not a list
    containing "null"; a required field whose value is null, undefined or "" marks its section invalid.
    """
    kind = schema.get("type")
    required = bool(kind) and not (isinstance(kind, list) and "null" in kind)
    return required and value in (None, "")


def test_every_trigger_form_submits_with_its_defaults(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    assert dagbag.import_errors == {}
    assert {"batch_labeling", "curriculum_graph_seed", "nightly_retraining"} <= set(dagbag.dag_ids)
    refused = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        for name in dag.params:
            param = dag.params.get_param(name)
            if _form_blocks(param.schema, param.value):
                refused.append(f"{dag_id}.{name}: the form marks {param.value!r} as missing (add 'null' to its type)")
            try:  # the API validates the submitted values against the same schema
                param.resolve(param.value)
            except ParamValidationError as exc:
                refused.append(f"{dag_id}.{name}: default {param.value!r} fails its schema: {exc}")
    assert refused == []
