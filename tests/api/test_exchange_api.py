"""The exchange formats through the JSON API: an uploaded python-threatexchange dataset CSV
is recognised from its header (the file name only says .csv), and a list exports in it."""

from __future__ import annotations

import csv
import io

PDQ = "f" * 32 + "0" * 32
MD5 = "0123456789abcdef" * 2
DATASET = ("signal_type,signal_str,collab,category,tags\n"
           f"pdq,{PDQ},Synthetic,POSITIVE_CLASS,benign\n"
           f"video_md5,{MD5},Synthetic,NEGATIVE_CLASS,\n")


async def test_import_recognises_the_dataset_csv_and_export_writes_it(api):
    response = await api.client.post(
        "/api/v1/lists/te-api/import", params={"filename": "dump.csv"},
        data=DATASET.encode(), headers=api.bearer("analyst"))
    assert response.status == 200, await response.text()
    assert {(e.algorithm, e.hash) for e in api.store.entries("te-api")} == {("pdq", PDQ)}

    response = await api.client.get("/api/v1/lists/te-api/export",
                                    params={"format": "threatexchange-csv"},
                                    headers=api.bearer("viewer"))
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert rows == [{"signal_type": "pdq", "signal_str": PDQ, "collab": "te-api",
                     "category": "POSITIVE_CLASS", "tags": "benign"}]

    bad = DATASET.replace(MD5, MD5[:-1])
    response = await api.client.post(
        "/api/v1/lists/te-api/import", params={"filename": "dump.csv"}, data=bad.encode(),
        headers=api.bearer("analyst"))
    assert response.status == 400
    assert (await response.json())["error"] == "line 3: md5 hash must be 32 hex digits, got 31"
