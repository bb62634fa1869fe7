"""The WSGI application every server runs (``regnekraft serve``, gunicorn and the like)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "regnekraft.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    """Import at start what pages import on first use: the charts (matplotlib) and the
    forecasts (statsmodels, pandas) take seconds to import, which a web worker should pay
    when it starts, not on some user's first view of the dashboard."""
    import pandas  # noqa: F401
    import statsmodels.api  # noqa: F401
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # noqa: F401

    from regnekraft.portal import charts  # noqa: F401


if os.environ.get("REGNEKRAFT_WARM_UP", "1") != "0":
    _warm_up()
