import datetime

import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models


def fill_usage_date(apps, schema_editor):
    from django.utils import timezone

    UsageRecord = apps.get_model("accounting", "UsageRecord")
    for record in UsageRecord.objects.all().only("pk", "end").iterator():
        UsageRecord.objects.filter(pk=record.pk).update(usage_date=timezone.localtime(record.end).date())


class Migration(migrations.Migration):

    dependencies = [
        ("accounting", "0001_initial"),
        ("allocation", "0001_initial"),
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagerecord",
            name="usage_date",
            field=models.DateField(
                default=datetime.date(2000, 1, 1),
                help_text="local date of the end of use: picks the allocation and price list",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fill_usage_date, migrations.RunPython.noop),
        migrations.AddField(
            model_name="usagerecord",
            name="unit_price_nok",
            field=models.DecimalField(
                decimal_places=4, default=Decimal("0"), max_digits=12,
                help_text="price list price x tier multiplier on the usage date",
            ),
        ),
        migrations.AddIndex(
            model_name="usagerecord",
            index=models.Index(fields=["usage_date"], name="usage_date_idx"),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="kind",
            field=models.CharField(
                choices=[
                    ("usage", "Consumption: units used"),
                    ("unit", "Unit price: allocated units, pro rata"),
                    ("subscription", "Subscription: fixed fee for the allocation"),
                    ("waiver", "Category 0 waiver"),
                    ("take_or_pay", "Committed minimum of a sector order"),
                ],
                default="usage", max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="allocation",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                related_name="invoice_lines", to="allocation.allocation",
            ),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="resource_class",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to="catalog.resourceclass",
            ),
        ),
    ]
