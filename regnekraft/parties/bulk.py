"""Many people, roles, projects and memberships in one call each: for building large data
sets (``regnekraft.national``) and imports.

Each function takes the actor first, like the one-at-a-time services in ``people.py`` and
``projects.py``, and checks every item with their rules (the same functions, and the models'
``full_clean`` through :func:`regnekraft.rows.clean_many`); then it writes with
``bulk_create`` in one transaction, with the audit entries the single services write
(``bulk_create`` sends no signals, so they are written here, in one insert). A bad item
refuses the whole batch, naming the item, and nothing is written. Repeating what exists
(a role, a membership) is a no-op, as in the single services.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import prefetch_related_objects

from regnekraft.audit import log as audit
from regnekraft.rows import clean_many, refusal

from . import people, projects
from .actors import forget, require_pi
from .models import Person, Project, Role

logger = logging.getLogger(__name__)

BATCH = 2000  # rows per INSERT


def _refused(label: str, exc: PermissionDenied) -> PermissionDenied:
    return PermissionDenied(f"{label}: {exc}")


@transaction.atomic
def create_people(actor: Any, items: Sequence[Mapping[str, Any]]) -> list[Person]:
    """People with sign-ins, as :func:`people.create_person` makes them one at a time: each
    item gives ``username`` and the person's fields (``organisation``, ``name``, ``email``,
    ...). They sign in through SSO: a password is set one at a time (``create_person`` or
    ``update_person``), where the password rules run. Returns the people in item order."""
    people.require_operator(actor)
    User = get_user_model()
    labels = [f"person {i + 1} ({item.get('username')})" for i, item in enumerate(items)]
    names = [User.normalize_username(item["username"]) for item in items]
    taken = _taken(User, names)
    seen: set[str] = set()
    for name, item, label in zip(names, items, labels, strict=True):
        if item.get("password"):
            raise refusal(label, ValidationError({"password": _SET_ONE_AT_A_TIME}))
        if name in taken or name in seen:
            raise refusal(label, people.username_taken())
        seen.add(name)
    users = []
    for name, item in zip(names, items, strict=True):
        user = User(username=name, email=User.objects.normalize_email(item.get("email", "")))
        user.set_unusable_password()  # as create_user without a password
        users.append(user)
    User.objects.bulk_create(users, batch_size=BATCH)  # undone with the rest if a person fails
    rows = [
        Person(user=user, **{k: v for k, v in item.items() if k != "username"})
        for user, item in zip(users, items, strict=True)
    ]
    clean_many(rows, labels)
    Person.objects.bulk_create(rows, batch_size=BATCH)
    logger.info("%d people created by %s", len(rows), actor)
    return rows


_SET_ONE_AT_A_TIME = (
    "set passwords one at a time (people.create_person or update_person), where the "
    "password rules run"
)


def _taken(User: Any, names: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(names), 5000):
        chunk = names[i : i + 5000]
        found |= set(User.objects.filter(username__in=chunk).values_list("username", flat=True))
    return found


@transaction.atomic
def grant_roles(actor: Any, items: Sequence[tuple[Person, str, str]]) -> list[Role]:
    """Give each (person, kind, sector) its role, as :func:`people.grant_role` does (an
    existing role stays as it is). Returns the roles in item order."""
    people.require_operator(actor)
    labels = [f"role {i + 1} ({p}: {kind})" for i, (p, kind, _) in enumerate(items)]
    existing = {
        (r.person_id, r.kind, r.sector): r
        for r in Role.objects.filter(person__in={p.pk for p, _, _ in items})
    }
    new: dict[tuple, Role] = {}
    new_labels = []
    for (person, kind, sector), label in zip(items, labels, strict=True):
        key = (person.pk, kind, sector)
        if key not in existing and key not in new:
            new[key] = Role(person=person, kind=kind, sector=sector)
            new_labels.append(label)
    rows = list(new.values())
    clean_many(rows, new_labels)
    Role.objects.bulk_create(rows, batch_size=BATCH)
    audit.created_many(rows)
    forget(actor)
    found = {**existing, **new}
    return [found[(p.pk, kind, sector)] for p, kind, sector in items]


@transaction.atomic
def create_projects(actor: Any, items: Sequence[Mapping[str, Any]]) -> list[Project]:
    """Projects, as :func:`projects.create_project` makes them (who may, the defaults, the
    model's rules), each item its fields. Returns them in item order."""
    labels = [f"project {i + 1} ({item.get('code')})" for i, item in enumerate(items)]
    rows = []
    for item, label in zip(items, labels, strict=True):
        try:
            rows.append(projects.new_project(actor, dict(item)))
        except PermissionDenied as exc:
            raise _refused(label, exc) from exc
    clean_many(rows, labels)
    Project.objects.bulk_create(rows, batch_size=BATCH)
    prefetch_related_objects(rows, "members")  # none yet; the audit snapshots ask for them
    audit.created_many(rows)
    logger.info("%d projects created by %s", len(rows), actor)
    return rows


Membership = tuple[Project, Person]


@transaction.atomic
def add_members(actor: Any, items: Sequence[Membership]) -> list[Membership]:
    """Add each (project, person) membership, as :func:`projects.add_member` does (who may,
    the PI is no member, a PI adds colleagues only; one that exists stays). Returns the
    memberships it added, each audited as ``member-added``."""
    labels = [f"member {i + 1} ({p.code}: {m})" for i, (p, m) in enumerate(items)]
    for (project, person), label in zip(items, labels, strict=True):
        try:
            require_pi(actor, project, action="change it")
            projects.require_not_pi(project, person)
            projects.require_colleague(actor, project, person)
        except PermissionDenied as exc:
            raise _refused(label, exc) from exc
        except ValidationError as exc:
            raise refusal(label, exc) from exc
    through = Project.members.through
    existing = set(
        through.objects.filter(project_id__in={p.pk for p, _ in items}).values_list(
            "project_id", "person_id"
        )
    )
    added: dict[tuple[int, int], Membership] = {}
    for project, person in items:
        key = (project.pk, person.pk)
        if key not in existing:
            added.setdefault(key, (project, person))
    through.objects.bulk_create(
        [through(project_id=a, person_id=b) for a, b in added], batch_size=BATCH
    )
    audit.note_many("member-added", [(p, projects.member_note(m)) for p, m in added.values()])
    logger.info("%d members added by %s", len(added), actor)
    return list(added.values())
