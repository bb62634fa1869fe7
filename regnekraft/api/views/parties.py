"""Organisations, people, roles and projects; a PI manages their project's members."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from regnekraft import access
from regnekraft.api.permissions import OperatorOnly, ServicesDecideWrites
from regnekraft.api.serializers.parties import (
    MemberSerializer,
    OrganisationSerializer,
    PersonSerializer,
    ProjectSerializer,
    RoleSerializer,
    attach_member_ids,
)
from regnekraft.parties import people, projects
from regnekraft.parties.actors import require_person
from regnekraft.parties.models import Organisation, Person, Project, Role

from .base import BaseAPIView, WritableViewSet


class OrganisationViewSet(WritableViewSet):
    """Organisations: research, public agencies (with their sector), industry, international."""

    queryset = Organisation.objects.none()  # for the schema; requests use get_queryset

    serializer_class = OrganisationSerializer
    permission_classes = [ServicesDecideWrites]

    def get_queryset(self):
        return access.visible_organisations(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = people.save_organisation(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = people.save_organisation(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        people.delete_organisation(self.request.user, instance)


class PersonViewSet(WritableViewSet):
    """People. Operators create them (with a user name and an initial password)."""

    queryset = Person.objects.none()  # for the schema; requests use get_queryset

    serializer_class = PersonSerializer
    permission_classes = [ServicesDecideWrites]

    def get_queryset(self):
        return (
            access.visible_people(self.request.user)
            .select_related("user")
            .prefetch_related("roles")
        )

    @staticmethod
    def _fields(data: dict) -> dict:
        fields = dict(data)
        username = fields.pop("user", {}).get("username")
        return {**fields, "username": username} if username else fields

    def perform_create(self, serializer):
        serializer.instance = people.create_person(
            self.request.user, **self._fields(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = people.update_person(
            self.request.user, serializer.instance, **self._fields(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        people.delete_person(self.request.user, instance)


class RoleViewSet(WritableViewSet):
    """Platform roles (PI, reviewer, sector coordinator with sector, operator, ...): operators
    only."""

    queryset = Role.objects.select_related("person")
    serializer_class = RoleSerializer
    permission_classes = [OperatorOnly]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = people.grant_role(self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        people.revoke_role(self.request.user, instance)


class MeView(BaseAPIView):
    """Who am I: the signed-in person with their roles."""

    serializer_class = PersonSerializer
    permission_classes = [IsAuthenticated]

    def get(self, request):
        person = require_person(request.user, action="have a profile")
        return Response(PersonSerializer(person).data)


class ProjectViewSet(WritableViewSet):
    """Projects (the code is the Slurm account). A PI creates their own projects and manages
    members; operators may change everything."""

    queryset = Project.objects.none()  # for the schema; requests use get_queryset

    serializer_class = ProjectSerializer

    def get_queryset(self):
        visible = access.visible_projects(self.request.user).select_related("organisation", "pi")
        if self.action == "list":
            return visible  # paginate_queryset reads the page's member ids in one query
        return visible.prefetch_related("members")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            attach_member_ids(page)
        return page

    def perform_create(self, serializer):
        serializer.instance = projects.create_project(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = projects.update_project(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        projects.delete_project(self.request.user, instance)

    @extend_schema(request=MemberSerializer, responses={201: ProjectSerializer})
    @action(detail=True, methods=["post"])
    def members(self, request, pk=None):
        """Add a member (by person id or user name). The project's PI or an operator."""
        form = MemberSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        project = self.get_object()
        person = projects.candidate(
            request.user,
            project,
            person_id=form.validated_data.get("person"),
            username=form.validated_data.get("username"),
        )
        project = projects.add_member(request.user, project, person)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[
            OpenApiParameter(
                "person_id", int, OpenApiParameter.PATH, description="the member's person id"
            )
        ],
    )
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<person_id>[0-9]+)")
    def remove_member(self, request, pk=None, person_id=None):
        """Remove a member. The project's PI or an operator."""
        project = self.get_object()
        member = get_object_or_404(project.members.all(), pk=person_id)
        projects.remove_member(request.user, project, member)
        return Response(status=status.HTTP_204_NO_CONTENT)
