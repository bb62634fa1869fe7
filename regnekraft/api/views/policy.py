"""The policy knobs (operators change them) and a dry run of the rules."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from regnekraft import access
from regnekraft.allocation import knobs, policy
from regnekraft.allocation.models import PolicySettings
from regnekraft.api.permissions import ServicesDecideWrites, require_visible
from regnekraft.api.schema import DECISION_ERRORS
from regnekraft.api.serializers.allocation import (
    PolicyCheckResultSerializer,
    PolicyCheckSerializer,
    PolicySettingsSerializer,
)

from .base import BaseAPIView


class PolicySettingsView(BaseAPIView):
    """The rules' settings: overbooking factor, economic-activity cap (at most the legal 20 %),
    research's protected share, security partner countries, minimum grant share, warning thresholds.
    Everyone signed in reads them; operators change them (every change is audited)."""

    serializer_class = PolicySettingsSerializer
    permission_classes = [ServicesDecideWrites]
    queryset = PolicySettings.objects.all()

    def get_object(self) -> PolicySettings:
        return PolicySettings.current()

    def get(self, request):
        return Response(PolicySettingsSerializer(PolicySettings.current()).data)

    def _save(self, request, partial: bool):
        form = PolicySettingsSerializer(
            PolicySettings.current(), data=request.data, partial=partial
        )
        form.is_valid(raise_exception=True)
        settings = knobs.set_policy(request.user, **form.validated_data)
        return Response(PolicySettingsSerializer(settings).data)

    def put(self, request):
        return self._save(request, partial=False)

    def patch(self, request):
        return self._save(request, partial=True)


class PolicyCheckView(BaseAPIView):
    """Dry run: would this grant pass the rules? Nothing is written; the answer lists every rule the
    grant would break, with the numbers, exactly as a decision would refuse it."""

    serializer_class = PolicyCheckSerializer
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=PolicyCheckSerializer,
        responses={200: PolicyCheckResultSerializer, **DECISION_ERRORS},
    )
    def post(self, request):
        form = PolicyCheckSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        require_visible(access.visible_projects(request.user), data["project"], "project")
        line = data.get("order_line")
        if line is not None:
            require_visible(access.visible_orders(request.user), line.order, "order_line", line)
        proposal = policy.Proposal.grant(
            data["project"],
            data["resource_class"],
            data["amount"],
            data["start"],
            data["end"],
            order_line=data.get("order_line"),
        )
        violations = policy.check([proposal])
        return Response(
            {
                "allowed": not violations,
                "violations": [
                    {"rule": v.rule, "message": v.message, "numbers": v.numbers} for v in violations
                ],
            }
        )
