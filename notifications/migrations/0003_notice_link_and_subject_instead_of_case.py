"""A notice carries a link and a subject instead of a case (notifications knows no case code): the existing
notices get their case's page and number and title, then the foreign key goes."""

from django.db import migrations, models


def copy_case(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    Case = apps.get_model("cases", "Case")
    ids = Notification.objects.filter(case__isnull=False).values_list("case_id", flat=True).distinct()
    for start in range(0, 10**9, 1000):
        chunk = list(ids.order_by("case_id")[start : start + 1000])
        if not chunk:
            break
        for case in Case.objects.filter(pk__in=chunk).only("number", "title"):
            Notification.objects.filter(case_id=case.pk).update(
                link=f"/cases/{case.pk}/", subject=f"{case.number} {case.title}"[:300]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_fewer_indexes"),
        ("cases", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="link",
            field=models.CharField(blank=True, max_length=200, verbose_name="link"),
        ),
        migrations.AddField(
            model_name="notification",
            name="subject",
            field=models.CharField(blank=True, max_length=300, verbose_name="about"),
        ),
        migrations.RunPython(copy_case, migrations.RunPython.noop),
        migrations.RemoveField(model_name="notification", name="case"),
    ]
