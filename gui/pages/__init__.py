"""One page per sidebar entry; `build_pages` makes them in sidebar order."""

from __future__ import annotations

from gui.pages.base import Context, Page


def build_pages(ctx: Context) -> list[Page]:
    """The pages this admin may see (Admins and Settings are for the admin role)."""
    from gui.pages.audit import AuditPage
    from gui.pages.endpoints import EndpointsPage
    from gui.pages.logs import LogsPage
    from gui.pages.overview import OverviewPage
    from gui.pages.providers import ProvidersPage
    from gui.pages.settings import AdminsPage, SettingsPage
    from gui.pages.tokens import TokensPage
    from gui.pages.usage import UsagePage

    pages: list[Page] = [OverviewPage(ctx), ProvidersPage(ctx), EndpointsPage(ctx),
                         TokensPage(ctx), UsagePage(ctx), LogsPage(ctx)]
    if ctx.api.is_admin:
        pages += [AdminsPage(ctx), SettingsPage(ctx)]
    pages.append(AuditPage(ctx))
    return pages
