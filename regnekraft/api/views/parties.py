"""Organisations, people, roles and projects; a PI manages their project's members."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from regnekraft import access
from regnekraft.api.permissions import (
    OperatorOnly,
    OperatorWritesOnly,
    is_operator,
    require_person,
    require_role,
)
from regnekraft.api.serializers.parties import (
    MemberSerializer,
    OrganisationSerializer,
    PersonSerializer,
    ProjectSerializer,
    RoleSerializer,
)
from regnekraft.parties.models import Organisation, Person, Project, Role, RoleKind

from .base import BaseAPIView, WritableViewSet


class OrganisationViewSet(WritableViewSet):
    """Organisations: research, public agencies (with their sector), industry, international."""

    queryset = Organisation.objects.none()  # for the schema; requests use get_queryset

    serializer_class = OrganisationSerializer
    permission_classes = [OperatorWritesOnly]

    def get_queryset(self):
        return access.visible_organisations(self.request.user)


class PersonViewSet(WritableViewSet):
    """People. Operators create them (with a user name and an initial password)."""

    queryset = Person.objects.none()  # for the schema; requests use get_queryset

    serializer_class = PersonSerializer
    permission_classes = [OperatorWritesOnly]

    def get_queryset(self):
        return (
            access.visible_people(self.request.user)
            .select_related("user")
            .prefetch_related("roles")
        )


class RoleViewSet(WritableViewSet):
    """Platform roles (PI, reviewer, sector coordinator with sector, operator, ...): operators only."""

    queryset = Role.objects.select_related("person")
    serializer_class = RoleSerializer
    permission_classes = [OperatorOnly]
    http_method_names = ["get", "post", "delete", "head", "options"]


class MeView(BaseAPIView):
    """Who am I: the signed-in person with their roles."""

    serializer_class = PersonSerializer
    permission_classes = [IsAuthenticated]

    def get(self, request):
        person = require_person(request.user, action="have a profile")
        return Response(PersonSerializer(person).data)


PI_EDITABLE = {"title", "description"}


class ProjectViewSet(WritableViewSet):
    """Projects (the code is the Slurm account). A PI creates their own projects and manages members;
    operators may change everything."""

    queryset = Project.objects.none()  # for the schema; requests use get_queryset

    serializer_class = ProjectSerializer

    def get_queryset(self):
        return (
            access.visible_projects(self.request.user)
            .select_related("organisation", "pi")
            .prefetch_related("members")
        )

    def perform_create(self, serializer):
        user = self.request.user
        if is_operator(user):
            if (
                "organisation" not in serializer.validated_data
                or "pi" not in serializer.validated_data
            ):
                person = require_person(
                    user, action="create a project without naming its organisation and PI"
                )
                serializer.validated_data.setdefault("organisation", person.organisation)
                serializer.validated_data.setdefault("pi", person)
            serializer.save()
            return
        require_role(user, RoleKind.PI, action="create a project")
        person = require_person(user, action="create a project")
        given_pi = serializer.validated_data.get("pi", person)
        given_org = serializer.validated_data.get("organisation", person.organisation)
        if given_pi != person or given_org != person.organisation:
            raise PermissionDenied(
                "a PI creates projects with themself as PI in their own organisation"
            )
        serializer.save(pi=person, organisation=person.organisation)

    def _require_manager(self, project: Project) -> None:
        if is_operator(self.request.user):
            return
        person = access.person_of(self.request.user)
        if person is None or project.pi_id != person.pk:
            raise PermissionDenied(f"only the PI of {project.code} or an operator may change it")

    def perform_update(self, serializer):
        self._require_manager(serializer.instance)
        if not is_operator(self.request.user):
            fixed = set(serializer.validated_data) - PI_EDITABLE
            if fixed:
                raise PermissionDenied(
                    f"a PI may change only {', '.join(sorted(PI_EDITABLE))}; "
                    f"ask an operator to change {', '.join(sorted(fixed))}"
                )
        serializer.save()

    def perform_destroy(self, instance):
        require_role(self.request.user, RoleKind.OPERATOR, action="delete a project")
        super().perform_destroy(instance)

    @extend_schema(request=MemberSerializer, responses={201: ProjectSerializer})
    @action(detail=True, methods=["post"])
    def members(self, request, pk=None):
        """Add a member (by person id or user name). The project's PI or an operator."""
        project = self.get_object()
        self._require_manager(project)
        form = MemberSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        project.members.add(form.validated_data["person"])
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
        self._require_manager(project)
        member = get_object_or_404(project.members.all(), pk=person_id)
        project.members.remove(member)
        return Response(status=status.HTTP_204_NO_CONTENT)
