"""Serializers for organisations, people, roles and projects."""

from __future__ import annotations

import re

from rest_framework import serializers

from regnekraft.parties.models import Organisation, Person, Project, Role

from .common import country_field

SLURM_ACCOUNT = re.compile(r"^[a-z][a-z0-9_]{1,29}$")


class OrganisationSerializer(serializers.ModelSerializer):
    country = country_field(required=False)
    user_group = serializers.CharField(read_only=True, help_text="research, public or industry")

    class Meta:
        model = Organisation
        fields = [
            "id",
            "name",
            "short_name",
            "kind",
            "sector",
            "is_sme",
            "is_bott",
            "country",
            "org_number",
            "user_group",
        ]


class RoleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Role
        fields = ["id", "person", "kind", "sector"]


class RoleBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Role
        fields = ["kind", "sector"]


class PersonSerializer(serializers.ModelSerializer):
    username = serializers.CharField(
        source="user.username",
        max_length=150,
        help_text="sign-in name; set when the person is created",
    )
    password = serializers.CharField(
        write_only=True,
        required=False,
        min_length=8,
        max_length=128,
        style={"input_type": "password"},
        help_text="initial password; without it the person signs in through SSO only",
    )
    roles = RoleBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Person
        fields = [
            "id",
            "username",
            "password",
            "name",
            "email",
            "organisation",
            "slurm_username",
            "roles",
        ]


# The attribute a list puts each project's member ids into (``attach_member_ids``).
MEMBER_IDS = "member_ids"


class MemberIds(serializers.ManyRelatedField):
    """The members as their ids, as ``PrimaryKeyRelatedField(many=True)`` writes them (ordered
    by name); from ``MEMBER_IDS`` when the list read them for its page, otherwise from the
    project's members."""

    def get_attribute(self, instance):
        ids = getattr(instance, MEMBER_IDS, None)
        return ids if ids is not None else super().get_attribute(instance)

    def to_representation(self, iterable):
        if isinstance(iterable, list):
            return iterable
        return super().to_representation(iterable)


def attach_member_ids(projects: list[Project]) -> None:
    """Each project's member ids, for a page of projects in one query (the members in the
    order of ``Person.Meta.ordering``, as the members relation gives them), without building a
    ``Person`` per membership."""
    ids: dict[int, list[int]] = {p.pk: [] for p in projects}
    if ids:
        rows = (
            Project.members.through.objects.filter(project_id__in=list(ids))
            .order_by("person__name", "person_id")
            .values_list("project_id", "person_id")
        )
        for project_id, person_id in rows:
            ids[project_id].append(person_id)
    for p in projects:
        setattr(p, MEMBER_IDS, ids[p.pk])


class ProjectSerializer(serializers.ModelSerializer):
    members = MemberIds(
        child_relation=serializers.PrimaryKeyRelatedField(
            read_only=True, help_text="change with the members endpoints"
        ),
        read_only=True,
        help_text="change with the members endpoints",
    )
    is_economic = serializers.BooleanField(
        read_only=True, help_text="economic activity in the state-aid sense"
    )
    required_tier = serializers.IntegerField(
        read_only=True, help_text="availability tier the purpose needs"
    )
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        help_text="default: the creator's organisation",
    )
    pi = serializers.PrimaryKeyRelatedField(
        queryset=Person.objects.all(), required=False, help_text="default: the creator"
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "code",
            "title",
            "organisation",
            "pi",
            "members",
            "purpose",
            "sensitivity",
            "eu_funded",
            "description",
            "is_economic",
            "required_tier",
            "created",
        ]
        read_only_fields = ["created"]

    def validate_code(self, value: str) -> str:
        if not SLURM_ACCOUNT.match(value):
            raise serializers.ValidationError(
                "the code is also the Slurm account name: 2-30 lower-case letters, digits or _, "
                "starting with a letter"
            )
        return value


class MemberSerializer(serializers.Serializer):
    """Who to add; who may be added is ``parties.projects.candidate``'s to say."""

    person = serializers.IntegerField(required=False, min_value=1, help_text="the person's id")
    username = serializers.CharField(
        required=False, write_only=True, max_length=150, help_text="or their user name"
    )

    def validate(self, attrs):
        if "person" not in attrs and "username" not in attrs:
            raise serializers.ValidationError({"person": "give the person's id or their user name"})
        return attrs
