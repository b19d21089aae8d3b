from fastapi.routing import APIRoute

from linli.web.deps import UnitOfWorkRoute, _unit_of_work


def _uses_db(dependant) -> bool:
    return any(d.call is _unit_of_work or _uses_db(d) for d in dependant.dependencies)


def test_every_route_with_a_session_commits_in_its_own_thread(app):
    """A route that opens a session but is not a UnitOfWorkRoute would hold its connection
    across a thread hop and could stall the server under load (see web/deps.py)."""
    offenders = [r.path for r in app.routes if isinstance(r, APIRoute) and _uses_db(r.dependant) and not isinstance(r, UnitOfWorkRoute)]
    assert offenders == []
