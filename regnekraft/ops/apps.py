from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "regnekraft.ops"
    label = "ops"
    verbose_name = "Operations"
