"""The review workspace's FAB permissions: a ``Reviewer`` role that may review, and read access for the built-in roles.

With the FAB auth manager, ``is_authorized_custom_view(method, "Mathlabel Review")`` holds when one of the user's
roles has the FAB action of ``method`` (``GET`` → ``can_read``, ``POST`` → ``can_create``) on that resource. FAB
knows no resource until a permission names it, and ``airflow roles add-perms`` refuses an unknown resource, so this
module creates the permissions itself. Idempotent: it only adds what is missing and never removes a permission.

Run once per metadata database, after ``airflow db migrate`` (docker-compose.yaml's ``airflow-init`` does)::

    python -m plugins.mathlabel_review.roles

A reviewer's account then holds ``Viewer`` (the Airflow UI) and ``Reviewer`` (the review writes)::

    airflow users create --role Viewer --username NAME ...   &&   airflow users add-role -u NAME -r Reviewer
"""

from __future__ import annotations

import sys
from typing import Any

from plugins.mathlabel_review.auth import RESOURCE

REVIEWER_ROLE = "Reviewer"
READ = "GET"
WRITE = "POST"
# Role → the methods it may use on the review workspace. The built-in roles below Admin may read, as the local
# setup's viewer does; only Reviewer and Admin write. Admin would get both at the API server's next role sync anyway
# (FAB gives it every non-DAG permission); granting them here makes it immediate.
GRANTS: dict[str, tuple[str, ...]] = {
    REVIEWER_ROLE: (READ, WRITE),
    "Viewer": (READ,),
    "User": (READ,),
    "Op": (READ,),
    "Admin": (READ, WRITE),
}


def fab_action(method: str) -> str:
    """The FAB action the FAB auth manager checks for ``method`` (``GET`` → ``can_read``, ``POST`` → ``can_create``)."""
    from airflow.providers.fab.www.utils import get_fab_action_from_method_map

    return get_fab_action_from_method_map()[method]


def ensure_review_roles(security_manager: Any) -> list[str]:
    """Create the ``Reviewer`` role and grant ``GRANTS`` on the review resource; return the grants that were added."""
    added = []
    for role_name, methods in GRANTS.items():
        role = security_manager.add_role(role_name)  # the existing role when there is one
        for method in methods:
            action = fab_action(method)
            permission = security_manager.create_permission(action, RESOURCE)  # creates the resource once
            if permission is None:
                raise RuntimeError(f"FAB could not create the permission {action} on {RESOURCE}")
            if permission not in role.permissions:
                security_manager.add_permission_to_role(role, permission)
                if permission not in role.permissions:  # FAB logs a failed grant instead of raising
                    raise RuntimeError(f"FAB could not grant {action} on {RESOURCE} to {role_name}")
                added.append(f"{role_name}: {action} on {RESOURCE}")
    return added


def main() -> int:
    """Apply ``ensure_review_roles`` to the metadata database Airflow's configuration names."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        added = ensure_review_roles(appbuilder.sm)
    print("\n".join(added) if added else f"roles already grant {RESOURCE}: nothing to add")
    return 0


if __name__ == "__main__":
    sys.exit(main())
