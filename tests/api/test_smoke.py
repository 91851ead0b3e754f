def test_case_list_and_detail(api, cast, report):
    case = report()
    client = api(cast.community)
    r = client.get("/api/v1/cases/")
    assert r.status_code == 200, r.content
    assert [c["number"] for c in r.json()["results"]] == [case.number]
    r = client.get(f"/api/v1/cases/{case.pk}/")
    assert r.status_code == 200, r.content
    r = client.get(f"/api/v1/cases/{case.pk}/actions/")
    assert r.status_code == 200, r.content
    print(r.json())
    r = client.post(
        f"/api/v1/cases/{case.pk}/transitions/call_street/", {"version": case.version, "comment": "x"}, format="json"
    )
    assert r.status_code == 200, r.content
    r = client.post(
        f"/api/v1/cases/{case.pk}/transitions/call_street/", {"version": case.version, "comment": "x"}, format="json"
    )
    assert r.status_code == 409, r.content
    print(r.json())
    assert api(cast.outsider).get(f"/api/v1/cases/{case.pk}/").status_code == 404
    assert api().get(f"/api/v1/cases/{case.pk}/").status_code == 401
