from linli.web.deps import UnitOfWorkRoute, _unit_of_work
from tests.routes import api_routes


def _uses_db(dependant) -> bool:
    return any(d.call is _unit_of_work or _uses_db(d) for d in dependant.dependencies)


def test_every_route_with_a_session_commits_in_its_own_thread(app):
    """A route that opens a session but is not a UnitOfWorkRoute would hold its connection
    across a thread hop and could stall the server under load (see web/deps.py)."""
    with_session = [(path, r) for path, r in api_routes(app) if _uses_db(r.dependant)]
    assert len(with_session) > 50  # the routes are really walked (see tests/routes.py)
    assert [path for path, r in with_session if not isinstance(r, UnitOfWorkRoute)] == []


def _integer_schemas(schema: dict):
    if schema.get("type") == "integer":
        yield schema
    for alternative in schema.get("anyOf", []):
        yield from _integer_schemas(alternative)


def test_every_integer_parameter_is_bounded(app):
    """An unbounded integer in a path or query reaches the driver, which overflows (a 500) on
    ids past 2^63-1. ``x: Id = Query()`` silently drops Id's bounds in FastAPI (the Query()
    default replaces the Annotated metadata); ``Annotated[Id, Query()]`` keeps them."""
    unbounded = [
        f"{method.upper()} {path} {p['name']}"
        for path, operations in app.openapi()["paths"].items()
        for method, op in operations.items()
        for p in op.get("parameters", [])
        for s in _integer_schemas(p["schema"])
        if "maximum" not in s or "minimum" not in s
    ]
    assert unbounded == []
