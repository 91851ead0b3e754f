from tests.cases.conftest import cast, category  # noqa: F401 - the people and category of the case tests
