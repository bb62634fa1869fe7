from django.apps import AppConfig


class AccountingConfig(AppConfig):
    name = "regnekraft.accounting"
    verbose_name = "Metering and charging"

    def ready(self) -> None:
        from regnekraft.allocation.signals import allocation_resized

        from .balances import reopen_resized

        allocation_resized.connect(reopen_resized, dispatch_uid="accounting.reopen_resized")
