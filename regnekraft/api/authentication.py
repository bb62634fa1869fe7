"""Token authentication that refuses an expired token (``parties.tokens``) with a clear 401."""

from __future__ import annotations

from django.utils import formats
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from regnekraft.parties import tokens


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str):
        user, token = super().authenticate_credentials(key)
        if tokens.is_expired(token):
            raise AuthenticationFailed(
                _(
                    "This API token expired on %(date)s. Get a new one with POST /api/token/ "
                    "(user name and password)."
                )
                % {"date": formats.date_format(tokens.expires(token), "Y-m-d H:i T")}
            )
        return user, token
