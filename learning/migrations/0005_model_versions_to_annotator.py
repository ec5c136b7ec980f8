# State only: ModelVersion and Prediction now belong to the annotator app (same tables).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0008_model_versions_and_predictions'),
        ('learning', '0004_training_run_model_version'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='prediction',
                    name='model_version',
                ),
                migrations.AlterField(
                    model_name='labelissue',
                    name='model_version',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='annotator.modelversion'),
                ),
                migrations.RemoveField(
                    model_name='prediction',
                    name='item',
                ),
                migrations.RemoveField(
                    model_name='prediction',
                    name='predicted_node',
                ),
                migrations.AddField(
                    model_name='trainingrun',
                    name='model_version',
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='training_run', to='annotator.modelversion'),
                ),
                migrations.DeleteModel(
                    name='ModelVersion',
                ),
                migrations.DeleteModel(
                    name='Prediction',
                ),
            ],
        ),
    ]
