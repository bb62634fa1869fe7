from django.apps import AppConfig


class AccountingConfig(AppConfig):
    name = "regnekraft.accounting"
    verbose_name = "Metering and charging"
