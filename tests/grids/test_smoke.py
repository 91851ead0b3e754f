from grids import access


def test_city_fixture_builds_tree(city):
    assert city.g1111.depth == 5
    assert city.g1111.code == "519901001001001"
    assert access.user_can(city.actor, "grids.view_region", city.g2222)
