"""Projects and their members. A PI creates projects in their own organisation with themself as
PI and manages the members; operators may change everything."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from regnekraft.audit import log as audit

from .actors import is_operator, require_person, require_pi, require_role
from .models import Person, Project, RoleKind

PI_EDITABLE = frozenset({"title", "description"})


def _saved(project: Project) -> Project:
    project.full_clean()
    project.save()
    return project


def new_project(actor: Any, fields: dict[str, Any]) -> Project:
    """The unsaved project ``actor`` may create from ``fields`` (who may, and the defaults);
    :func:`create_project` and ``bulk.create_projects`` validate and save it."""
    if not is_operator(actor):
        require_role(actor, RoleKind.PI, action="create a project")
    if is_operator(actor) and "pi" in fields and "organisation" in fields:
        return Project(**fields)
    person = require_person(actor, action="create a project without naming its organisation and PI")
    pi, organisation = fields.pop("pi", person), fields.pop("organisation", person.organisation)
    if not is_operator(actor) and (pi != person or organisation != person.organisation):
        raise PermissionDenied(
            "a PI creates projects with themself as PI in their own organisation"
        )
    return Project(pi=pi, organisation=organisation, **fields)


@transaction.atomic
def create_project(actor: Any, **fields: Any) -> Project:
    """A new project; without ``pi`` and ``organisation``, the acting person and theirs."""
    return _saved(new_project(actor, fields))


@transaction.atomic
def update_project(actor: Any, project: Project, **fields: Any) -> Project:
    require_pi(actor, project, action="change it")
    if not is_operator(actor):
        fixed = set(fields) - PI_EDITABLE
        if fixed:
            raise PermissionDenied(
                f"a PI may change only {', '.join(sorted(PI_EDITABLE))}; "
                f"ask an operator to change {', '.join(sorted(fixed))}"
            )
    project = Project.objects.select_for_update().get(pk=project.pk)
    for name, value in fields.items():
        setattr(project, name, value)
    return _saved(project)


@transaction.atomic
def delete_project(actor: Any, project: Project) -> None:
    require_role(actor, RoleKind.OPERATOR, action="delete a project")
    project.delete()


def require_not_pi(project: Project, person: Person) -> None:
    if person.pk == project.pi_id:
        raise ValidationError({"person": _("The PI is always part of the project.")})


def _no_such_person(project: Project, who: Any) -> ValidationError:
    return ValidationError(
        {
            "person": _(
                "No person %(who)s at %(org)s; ask an operator to add a member from another "
                "organisation."
            )
            % {"who": who, "org": project.organisation}
        }
    )


def candidate(
    actor: Any, project: Project, *, person_id: int | None = None, username: str | None = None
) -> Person:
    """The person a PI names to add (by id or user name) among those they may add: one that
    does not exist and one of another organisation are refused alike, naming no one."""
    require_pi(actor, project, action="change it")
    people = Person.objects.all()
    if not is_operator(actor):
        people = people.filter(organisation=project.organisation)
    if person_id is not None:
        found = people.filter(pk=person_id).first()
    else:
        found = people.filter(user__username=username).first()
    if found is None:
        raise _no_such_person(project, person_id if person_id is not None else username)
    return found


def require_colleague(actor: Any, project: Project, person: Person) -> None:
    """A PI adds only people of the project's own organisation (a member sees the project, and
    the PI then sees the member's name and e-mail); an operator adds anyone."""
    if is_operator(actor) or person.organisation_id == project.organisation_id:
        return
    raise _no_such_person(project, person.pk)


def member_note(person: Person) -> dict[str, Any]:
    """What the audit log records of a member added or removed."""
    return {"person": person.pk, "name": person.name}


def _note(action: str, project: Project, person: Person) -> None:
    audit.note(action, project, member_note(person))


@transaction.atomic
def add_member(actor: Any, project: Project, person: Person) -> Project:
    """Add ``person`` to the project's members (idempotent; audited)."""
    require_pi(actor, project, action="change it")
    require_not_pi(project, person)
    require_colleague(actor, project, person)
    if not project.members.filter(pk=person.pk).exists():
        project.members.add(person)
        _note("member-added", project, person)
    return project


@transaction.atomic
def remove_member(actor: Any, project: Project, person: Person) -> Project:
    """Take ``person`` off the project (idempotent; audited)."""
    require_pi(actor, project, action="change it")
    require_not_pi(project, person)
    if project.members.filter(pk=person.pk).exists():
        project.members.remove(person)
        _note("member-removed", project, person)
    return project
