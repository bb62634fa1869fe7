"""Token sign-in: POST user name and password, get the token for the Authorization header."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken

from regnekraft.api.schema import VALIDATION, RegnekraftAutoSchema

TokenAnswer = inline_serializer(
    "Token",
    fields={
        "token": serializers.CharField(
            help_text='send as the header "Authorization: Token <token>"'
        )
    },
)


class TokenView(ObtainAuthToken):
    schema = RegnekraftAutoSchema()

    @extend_schema(
        request=ObtainAuthToken.serializer_class,
        responses={200: TokenAnswer, 400: VALIDATION},
        auth=[],
        description="Exchange a user name and password for an API token (the same token "
        "each time until it is deleted).",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
