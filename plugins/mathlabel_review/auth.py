"""Who may use the review workspace: Airflow's own login, and a review permission for writes.

Airflow does not authenticate a plugin's FastAPI app (a mounted sub-app inherits none of the core API's
dependencies), so every route here depends on ``reader`` or ``reviewer``:

- **Login.** The API server's ``get_user``: a ``Authorization: Bearer <JWT>`` header (scripts, from
  ``POST /auth/token``) or the UI's ``_token`` cookie. No credential: 401.
- **Read.** ``is_authorized_custom_view(GET, "Mathlabel Review")``: every logged-in user with the SimpleAuthManager;
  with the FAB auth manager, a role holding ``can_read`` on the resource.
- **Write.** ``is_authorized_custom_view(POST, "Mathlabel Review")`` (FAB: ``can_create`` on the resource, which the
  ``Reviewer`` role holds). The SimpleAuthManager grants every custom view to a viewer, so with it a write also
  needs the role ``user`` or above: a ``viewer`` stays read-only.
- **Forged requests.** The cookie travels with any request the browser sends, so a write authenticated by it must
  come from this origin: a cross-site ``Origin`` or ``Sec-Fetch-Site`` is refused, and so is a cookie write without
  the ``X-Requested-With: mathlabel`` header (a custom header a cross-origin page cannot send without a CORS
  preflight that the API server does not grant). A bearer token is not ambient, so it needs neither. Behind a
  TLS-terminating proxy the API server must trust its forwarded headers (uvicorn's ``--proxy-headers`` and
  ``--forwarded-allow-ips``), or the page's own ``https`` Origin does not match the ``http`` URL it sees.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

log = logging.getLogger(__name__)

RESOURCE = "Mathlabel Review"
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "mathlabel"


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def user_name(user: Any) -> str:
    """The name the audit trail records: the login, never a field of the request."""
    return str(user.get_name())


def may_read(user: Any) -> bool:
    return bool(_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE, user=user))


def may_review(user: Any) -> bool:
    """Whether ``user`` may write reviews (see the module's rules)."""
    manager = _auth_manager()
    if not manager.is_authorized_custom_view(method="POST", resource_name=RESOURCE, user=user):
        return False
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
        SimpleAuthManager,
        SimpleAuthManagerRole,
    )

    if isinstance(manager, SimpleAuthManager):
        role = (getattr(user, "role", None) or "").upper()
        known = {r.name: r.order for r in SimpleAuthManagerRole}
        return known.get(role, -1) >= SimpleAuthManagerRole.USER.order
    return True


def _same_origin(request: Request) -> None:
    """Refuse a cookie-authenticated write that a page of another origin may have sent."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-origin write refused (Origin {origin})")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site write refused")
    if request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"a write with the login cookie needs the header {CSRF_HEADER}: {CSRF_VALUE}"
        )


_bearer = HTTPBearer(auto_error=False, description="A JWT from Airflow's POST /auth/token (or the UI's cookie)")


async def get_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The API server's own ``get_user`` (bearer token, else the ``_token`` cookie), imported when a request comes:
    Airflow loads plugins in every process, and the API server's security module pulls in the whole API app."""
    from airflow.api_fastapi.core_api.security import get_user as airflow_get_user

    return await airflow_get_user(request, None, credentials)


async def reader(user: Annotated[Any, Depends(get_user)]) -> Any:
    """A logged-in user allowed to read the review workspace."""
    if not may_read(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user_name(user)} may not open the review workspace")
    return user


async def reviewer(request: Request, user: Annotated[Any, Depends(get_user)]) -> Any:
    """A logged-in user allowed to write reviews, on a request from this origin."""
    if not may_review(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user_name(user)} has no review permission (read-only)")
    _same_origin(request)
    return user


Reader = Annotated[Any, Depends(reader)]
Reviewer = Annotated[Any, Depends(reviewer)]
