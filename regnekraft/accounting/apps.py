from django.apps import AppConfig


class AccountingConfig(AppConfig):
    name = "regnekraft.accounting"
    verbose_name = "Metering and charging"

    def ready(self) -> None:
        from regnekraft.allocation.signals import allocation_resized
        from regnekraft.catalog.signals import pricing_fields_changing

        from .balances import reopen_resized
        from .rating import refuse_repricing

        allocation_resized.connect(reopen_resized, dispatch_uid="accounting.reopen_resized")
        pricing_fields_changing.connect(
            refuse_repricing, dispatch_uid="accounting.refuse_repricing"
        )
