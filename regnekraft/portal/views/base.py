"""What every portal page shares: the role guard, the refusal page, CSV export and the
language links. Access rules themselves live in ``regnekraft.access``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import translate_url
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from regnekraft import access
from regnekraft.formats import spreadsheet
from regnekraft.parties.models import RoleKind

from .. import nav
from ..locale import CHOICE_PARAM
from ..tables import DIALECT_PARAM, EXPORT_PARAM, Table, csv_response, find

View = Callable[..., HttpResponse]


def language_links(request: HttpRequest) -> list[dict[str, Any]]:
    """This page in each language. The default language's page has no prefix, so its link
    carries ``?lang=`` to say it was chosen (``portal.locale`` keeps the choice in a cookie,
    which otherwise ``Accept-Language`` would decide)."""
    query = request.GET.copy()
    query.pop(CHOICE_PARAM, None)
    here = request.path + (f"?{query.urlencode()}" if query else "")
    current = get_language()
    links = []
    for code, name in settings.LANGUAGES:
        href = translate_url(here, code)
        if code == settings.LANGUAGE_CODE:
            href += ("&" if "?" in href else "?") + f"{CHOICE_PARAM}={code}"
        links.append({"code": code, "name": name, "href": href, "current": code == current})
    return links


def page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    tables: Iterable[Table] = (),
    status: int = 200,
) -> HttpResponse:
    """Render a portal page, or one of its tables as CSV when ``?export=<table id>``."""
    tables = list(tables)
    wanted = request.GET.get(EXPORT_PARAM)
    if wanted:
        table = find(tables, wanted)
        if table is not None:
            dialect = request.GET.get(DIALECT_PARAM)
            if dialect not in (None, *spreadsheet.DIALECTS):
                reason = _("There is no CSV dialect “%(name)s”; choose one of: %(choices)s.") % {
                    "name": dialect,
                    "choices": ", ".join(spreadsheet.DIALECTS),
                }
                return render(
                    request,
                    "portal/refused.html",
                    {"reason": reason, "title": _("Bad request")},
                    status=400,
                )
            return csv_response(table, dialect)
    ctx = dict(context or {})
    ctx.setdefault("tables", tables)
    ctx["nav"] = nav.entries_for(request.user)
    ctx["languages"] = language_links(request)
    ctx["current_url_name"] = getattr(request.resolver_match, "view_name", "")
    return render(request, template, ctx, status=status)


def refuse(request: HttpRequest, reason: str) -> HttpResponse:
    return page(
        request, "portal/refused.html", {"reason": reason, "title": _("Not allowed")}, status=403
    )


def role_names(kinds: Iterable[str]) -> str:
    return ", ".join(sorted(str(RoleKind(k).label) for k in kinds))


def requires(url_name: str) -> Callable[[View], View]:
    """Only people with one of the roles the navigation gives ``url_name`` may open the view."""
    allowed = nav.roles_for(url_name)

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not access.has_role(request.user, *allowed):
                return refuse(
                    request,
                    _("This page is for: %(roles)s. Your account does not have that role.")
                    % {"roles": role_names(allowed)},
                )
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def int_param(
    value: str | None, default: int | None = None, *, lo: int = 1, hi: int = 2**62
) -> int | None:
    """A whole number from a query or form field, or ``default`` when it is missing or not one
    in [lo, hi] (so a mangled URL gets the default, never a server error)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return number if lo <= number <= hi else default


def year_param(request: HttpRequest) -> int:
    import datetime as dt

    return int_param(request.GET.get("year"), dt.date.today().year, lo=2000, hi=2100)


def not_visible(request: HttpRequest) -> HttpResponse:
    return refuse(request, _("This item is not among those your roles let you see."))


def add_refusal(form: Any, exc: ValidationError | PermissionDenied) -> None:
    """Put a service's refusal on ``form``: each message under its field where the form has
    that field, the rest (and a refused permission) above the form."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc))
        return
    by_field = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
    for field, errors in by_field.items():
        form.add_error(field if field in form.fields else None, errors)
