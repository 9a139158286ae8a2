from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="modelversion",
            name="method",
            field=models.CharField(
                choices=[
                    ("scorecard", "WoE scorecard (logistic regression)"),
                    ("gbm", "Gradient boosting (LightGBM)"),
                    ("logistic", "Logistic regression (one-hot, standardised, calibrated)"),
                ],
                max_length=12,
                verbose_name="method",
            ),
        ),
    ]
