from stores.labels import EmbeddedLabelStore


def doc(problem_id: str, label: str) -> dict:
    return {"_id": f"{problem_id}@v1", "problem_id": problem_id, "labels": [label], "run_id": "r1"}


def test_upsert_is_keyed_by_id_and_keeps_created_at(tmp_path):
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    first = store.upsert_labels([doc("p1", "9수01-01"), doc("p2", "9수01-02")])
    created = store.get_label("p1@v1")["created_at"]
    again = store.upsert_labels([doc("p1", "9수01-03")])
    assert (first.inserted, first.updated, again.inserted, again.updated) == (2, 0, 0, 1)
    assert store.count_labels() == 2
    stored = store.get_label("p1@v1")
    assert stored["labels"] == ["9수01-03"] and stored["created_at"] == created


def test_store_survives_reopening(tmp_path):
    EmbeddedLabelStore.open(str(tmp_path / "labels")).upsert_labels([doc("p1", "9수01-01")])
    reopened = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    assert [d["problem_id"] for d in reopened.find_labels({"run_id": "r1"})] == ["p1"]
