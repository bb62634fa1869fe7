from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "regnekraft.catalog"
    verbose_name = "Service catalogue"
