"""API tokens: POST a user name and password for a token (valid ``REGNEKRAFT_TOKEN_DAYS`` days),
DELETE to revoke your own. Writes through ``regnekraft.parties.tokens``; failed sign-ins count
towards the lockout (``regnekraft.portal.lockout``)."""

from __future__ import annotations

from axes.helpers import get_lockout_response
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from regnekraft.api.schema import UNAUTHENTICATED, VALIDATION, RegnekraftAutoSchema
from regnekraft.parties import tokens

TokenAnswer = inline_serializer(
    "Token",
    fields={
        "token": serializers.CharField(
            help_text='send as the header "Authorization: Token <token>"'
        ),
        "expires": serializers.DateTimeField(help_text="the token is refused from this time on"),
    },
)
LOCKED = OpenApiResponse(
    inline_serializer("Locked", fields={"detail": serializers.CharField()}),
    description="too many failed sign-ins for this user name from this address; wait",
)


class TokenView(ObtainAuthToken):
    schema = RegnekraftAutoSchema()

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else []

    @extend_schema(
        request=ObtainAuthToken.serializer_class,
        responses={200: TokenAnswer, 400: VALIDATION, 429: LOCKED},
        auth=[],
        description="Exchange a user name and password for an API token: the same token each "
        "time until it expires (after REGNEKRAFT_TOKEN_DAYS days) or is revoked, then a new "
        "one. Repeated failures lock the user name for this address for a while (429).",
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):
                # axes flags DRF's request, which its middleware does not see: answer here
                credentials = getattr(request, "axes_credentials", None)
                return get_lockout_response(request._request, None, credentials)
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        token = tokens.issue(user, user)
        return Response({"token": token.key, "expires": tokens.expires(token)})

    @extend_schema(
        request=None,
        responses={204: None, 401: UNAUTHENTICATED},
        description="Revoke your own API token (it stops working at once). Idempotent.",
    )
    def delete(self, request, *args, **kwargs):
        tokens.revoke(request.user, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
