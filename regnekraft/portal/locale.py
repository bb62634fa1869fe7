"""The portal's language: the URL's prefix (``/en/...``) when there is one; on an unprefixed
page the reader's choice (the language links set it with ``?lang=``, kept in Django's language
cookie), else the browser's ``Accept-Language``, else bokmål. A reader whose language is not
the default is sent to the page under its prefix (``/pi/`` -> ``/en/pi/``), since only there
do the portal's URLs resolve in that language.

Django's own ``LocaleMiddleware`` gives every unprefixed page the default language when
``i18n_patterns(prefix_default_language=False)`` is used, so a browser asking for English got
bokmål; this one differs only there."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponseRedirect
from django.middleware.locale import LocaleMiddleware
from django.urls import get_script_prefix, is_valid_path
from django.utils import translation
from django.utils.cache import patch_vary_headers

CHOICE_PARAM = "lang"


def _supported(code: str | None) -> str | None:
    codes = {c for c, _name in settings.LANGUAGES}
    return code if code in codes else None


class PortalLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        super().process_request(request)
        if translation.get_language_from_path(request.path_info):
            return
        chosen = _supported(request.GET.get(CHOICE_PARAM))
        if chosen:
            request._portal_language_choice = chosen
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
            return None
        # The cookie, else Accept-Language, else LANGUAGE_CODE (Django's own order).
        language = translation.get_language_from_request(request, check_path=False)
        if language == settings.LANGUAGE_CODE or request.method not in ("GET", "HEAD"):
            return None
        urlconf = getattr(request, "urlconf", settings.ROOT_URLCONF)
        with translation.override(language):
            prefixed = is_valid_path(f"/{language}{request.path_info}", urlconf)
        if not prefixed:
            return None  # not a portal page (the API, the admin): left as Django has it
        prefix = get_script_prefix()
        target = request.get_full_path().replace(prefix, f"{prefix}{language}/", 1)
        redirect = HttpResponseRedirect(target)
        patch_vary_headers(redirect, ("Accept-Language", "Cookie"))
        return redirect

    def process_response(self, request, response):
        response = super().process_response(request, response)
        chosen = getattr(request, "_portal_language_choice", None)
        if chosen:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                chosen,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                secure=settings.LANGUAGE_COOKIE_SECURE or request.is_secure(),
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response
