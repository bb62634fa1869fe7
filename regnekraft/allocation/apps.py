from django.apps import AppConfig


class AllocationConfig(AppConfig):
    name = "regnekraft.allocation"
    verbose_name = "Allocation"
