# A model version's run is recorded on the run, so that the annotator app, which will own
# model versions, does not point back at the learning app.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('learning', '0003_prediction_rejected'),
    ]

    operations = [
        migrations.AddField(
            model_name='trainingrun',
            name='model_version',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='learning.modelversion'),
        ),
        migrations.RunSQL(
            sql="""
                UPDATE learning_trainingrun SET model_version_id = (
                    SELECT version.id FROM learning_modelversion version
                    WHERE version.training_run_id = learning_trainingrun.id
                )
            """,
            reverse_sql="""
                UPDATE learning_modelversion SET training_run_id = (
                    SELECT run.id FROM learning_trainingrun run
                    WHERE run.model_version_id = learning_modelversion.id
                )
            """,
        ),
        migrations.RemoveField(
            model_name='modelversion',
            name='training_run',
        ),
    ]
