from django.apps import AppConfig


class PartiesConfig(AppConfig):
    name = "regnekraft.parties"
    verbose_name = "Organisations, people and projects"
