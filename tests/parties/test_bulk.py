"""parties.bulk: many people, roles, projects and members in one call each, written as the
one-at-a-time services write them, with their audit entries; a bad item refuses the whole
batch, naming it, and nothing is written."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from regnekraft.audit.context import acting_as
from regnekraft.audit.models import AuditEntry
from regnekraft.parties import bulk, people, projects
from regnekraft.parties.actors import SYSTEM
from regnekraft.parties.models import Person, Project, Role
from tests import factories as f

pytestmark = pytest.mark.django_db

VOLATILE = {"id", "code", "created", "person", "name"}


def _person_row(p: Person) -> tuple:
    u = p.user
    return (
        p.organisation_id,
        p.email.split("@")[1],
        p.language,
        u.is_active,
        u.has_usable_password(),
        u.email.split("@")[1],
    )


def _entries(**filters) -> list[tuple]:
    """The audit entries, without what differs between two rows of the same kind."""
    out = []
    for e in AuditEntry.objects.filter(**filters).order_by("id"):
        after = {k: v for k, v in (e.after or {}).items() if k not in VOLATILE}
        out.append((e.action, e.object_type, e.actor_label, e.actor_id, after))
    return out


def _person_item(org, username: str, **extra) -> dict:
    return {
        "username": username,
        "organisation": org,
        "name": username.title(),
        "email": f"{username}@example.no",
        "slurm_username": username,
        **extra,
    }


def test_create_people_writes_what_create_person_writes():
    org = f.organisation()
    one = people.create_person(SYSTEM, **_person_item(org, "single1"))
    many = bulk.create_people(SYSTEM, [_person_item(org, "bulk1"), _person_item(org, "bulk2")])
    assert [p.user.username for p in many] == ["bulk1", "bulk2"]
    assert all(p.pk for p in many)
    fresh = Person.objects.select_related("user")
    assert {_person_row(p) for p in fresh} == {_person_row(one)}
    assert [p.name for p in fresh.filter(user__username__startswith="bulk")] == ["Bulk1", "Bulk2"]


def test_a_bad_person_refuses_the_whole_batch_naming_it():
    org = f.organisation()
    people.create_person(SYSTEM, **_person_item(org, "taken"))
    users, persons = get_user_model().objects.count(), Person.objects.count()
    cases = [
        (_person_item(org, "x2", email="not an address"), "email", "person 2 (x2)"),
        (_person_item(org, "taken"), "username", "person 2 (taken)"),
        (_person_item(org, "x1"), "username", "person 2 (x1)"),  # twice in the batch
        (_person_item(org, "x2", password="Long-enough-9"), "password", "person 2 (x2)"),
        (_person_item(org, "x2", language="xx"), "language", "person 2 (x2)"),
    ]
    for bad, field, label in cases:
        with pytest.raises(ValidationError) as refused:
            bulk.create_people(SYSTEM, [_person_item(org, "x1"), bad, _person_item(org, "x3")])
        assert field in refused.value.message_dict
        assert all(m.startswith(label) for m in refused.value.message_dict[field])
    assert (get_user_model().objects.count(), Person.objects.count()) == (users, persons)
    other = f.person(org, "pi")
    with pytest.raises(PermissionDenied, match="operator"):
        bulk.create_people(other.user, [_person_item(org, "x1")])


def test_grant_roles_writes_and_audits_what_grant_role_does():
    org = f.organisation(kind="public", sector="Helse og omsorg")
    a, b = f.person(org), f.person(org)
    with acting_as("demo"):
        people.grant_role(SYSTEM, a, "reviewer")
        people.grant_role(SYSTEM, a, "coordinator", "Helse og omsorg")
        single = _entries(object_type="parties.Role")
        AuditEntry.objects.all().delete()
        roles = bulk.grant_roles(
            SYSTEM, [(b, "reviewer", ""), (b, "coordinator", "Helse og omsorg")]
        )
        assert _entries(object_type="parties.Role") == single
        again = bulk.grant_roles(SYSTEM, [(b, "reviewer", ""), (a, "reviewer", "")])
    assert again[0] == roles[0] and again[1].person == a  # existing roles stay as they are
    assert Role.objects.filter(person=b).count() == 2
    assert AuditEntry.objects.filter(object_type="parties.Role").count() == 2


def test_a_bad_role_refuses_the_whole_batch():
    a, b = f.person(), f.person()
    before = (Role.objects.count(), AuditEntry.objects.count())
    with pytest.raises(ValidationError) as refused:
        bulk.grant_roles(SYSTEM, [(a, "reviewer", ""), (b, "coordinator", "")])
    assert refused.value.message_dict["sector"][0].startswith(f"role 2 ({b}: coordinator)")
    assert (Role.objects.count(), AuditEntry.objects.count()) == before


def _project_item(org, pi, code: str, **extra) -> dict:
    return {"code": code, "title": "A project", "organisation": org, "pi": pi, **extra}


def test_create_projects_writes_and_audits_what_create_project_does():
    org = f.organisation()
    pi = f.person(org, "pi")
    with acting_as("demo"):
        one = projects.create_project(SYSTEM, **_project_item(org, pi, "nn0001k"))
        single = _entries(object_type="parties.Project")
        AuditEntry.objects.all().delete()
        made = bulk.create_projects(
            SYSTEM, [_project_item(org, pi, "nn0002k"), _project_item(org, pi, "nn0003k")]
        )
        assert _entries(object_type="parties.Project") == single * 2
    assert [p.code for p in made] == ["nn0002k", "nn0003k"]
    fields = ("organisation_id", "pi_id", "purpose", "sensitivity", "title", "eu_funded")
    rows = {tuple(getattr(p, n) for n in fields) for p in Project.objects.all()}
    assert rows == {tuple(getattr(one, n) for n in fields)}
    # a PI creates their own projects in bulk as one at a time: themself as PI, their own place
    with acting_as(pi.user):
        mine = bulk.create_projects(pi.user, [{"code": "nn0004k", "title": "Mine"}])
    assert (mine[0].pi, mine[0].organisation) == (pi, org)


def test_a_bad_project_refuses_the_whole_batch_naming_it():
    org = f.organisation()
    pi = f.person(org, "pi")
    projects.create_project(SYSTEM, **_project_item(org, pi, "nn0001k"))
    elsewhere = f.organisation()
    before = (Project.objects.count(), AuditEntry.objects.count())
    cases = [
        (_project_item(org, pi, "nn0001k"), "code"),  # taken
        (_project_item(org, pi, "nn0009k"), "code"),  # twice in the batch
        (_project_item(org, pi, "nn0008k", purpose="fun"), "purpose"),
        (_project_item(org, pi, "nn0008k", title=""), "title"),
    ]
    for bad, field in cases:
        with pytest.raises(ValidationError) as refused:
            bulk.create_projects(SYSTEM, [_project_item(org, pi, "nn0009k"), bad])
        assert refused.value.message_dict[field][0].startswith(f"project 2 ({bad['code']})")
    with pytest.raises(PermissionDenied, match=r"^project 1 \(nn0007k\): a PI creates"):
        bulk.create_projects(pi.user, [_project_item(elsewhere, pi, "nn0007k")])
    assert (Project.objects.count(), AuditEntry.objects.count()) == before


def test_add_members_writes_and_audits_what_add_member_does():
    org = f.organisation()
    p1, p2 = f.project(org), f.project(org)
    m1, m2 = f.person(org), f.person(org)
    AuditEntry.objects.all().delete()
    with acting_as("demo"):
        projects.add_member(SYSTEM, p1, m1)
        single = [(e.action, e.object_id, e.actor_label, e.after) for e in AuditEntry.objects.all()]
        AuditEntry.objects.all().delete()
        added = bulk.add_members(SYSTEM, [(p2, m1), (p1, m1), (p1, m2), (p2, m1)])
    assert added == [(p2, m1), (p1, m2)]  # the one there already, and the repeat, add nothing
    assert set(p1.members.all()) == {m1, m2} and set(p2.members.all()) == {m1}
    notes = [(e.action, e.object_id, e.actor_label, e.after) for e in AuditEntry.objects.all()]
    assert sorted(notes, key=str) == sorted(
        [
            ("member-added", str(p2.pk), "demo", {"person": m1.pk, "name": m1.name}),
            ("member-added", str(p1.pk), "demo", {"person": m2.pk, "name": m2.name}),
        ],
        key=str,
    )
    assert single == [("member-added", str(p1.pk), "demo", {"person": m1.pk, "name": m1.name})]


def test_a_bad_member_refuses_the_whole_batch_naming_it():
    org = f.organisation()
    p1 = f.project(org)
    m1, stranger = f.person(org), f.person(f.organisation())
    before = (Project.members.through.objects.count(), AuditEntry.objects.count())
    with pytest.raises(ValidationError) as refused:
        bulk.add_members(SYSTEM, [(p1, m1), (p1, p1.pi)])
    assert refused.value.message_dict["person"][0].startswith(f"member 2 ({p1.code}: ")
    # a PI adds colleagues only (as add_member), and only to their own projects
    with pytest.raises(ValidationError, match="member 2"):
        bulk.add_members(p1.pi.user, [(p1, m1), (p1, stranger)])
    with pytest.raises(PermissionDenied, match=r"^member 1 .*only the PI"):
        bulk.add_members(m1.user, [(p1, stranger)])
    assert (Project.members.through.objects.count(), AuditEntry.objects.count()) == before
    bulk.add_members(p1.pi.user, [(p1, m1)])
    assert list(p1.members.all()) == [m1]


def test_the_queries_do_not_grow_with_the_batch():
    org = f.organisation()
    pi = f.person(org, "pi")

    def queries(n: int, tag: str) -> int:
        with CaptureQueriesContext(connection) as q:
            made = bulk.create_people(SYSTEM, [_person_item(org, f"{tag}{i}") for i in range(n)])
            bulk.grant_roles(SYSTEM, [(p, "pi", "") for p in made])
            ps = bulk.create_projects(
                SYSTEM, [_project_item(org, pi, f"{tag}{i}k") for i in range(n)]
            )
            bulk.add_members(SYSTEM, list(zip(ps, made, strict=True)))
        return len(q)

    assert queries(3, "a") == queries(30, "b")
