# ModelVersion and Prediction move from the learning app to this one, state only: the
# tables keep their names, so no row moves. The queue reads them; learning writes them.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0007_strategy_margin'),
        ('learning', '0004_training_run_model_version'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ModelVersion',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('version', models.PositiveIntegerField()),
                        ('checkpoint', models.CharField(blank=True, max_length=500)),
                        ('human_labels', models.PositiveIntegerField(default=0)),
                        ('metrics', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='model_versions', to='annotator.project')),
                        ('taxonomy', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='model_versions', to='annotator.taxonomy')),
                    ],
                    options={
                        'db_table': 'learning_modelversion',
                        'ordering': ['project', '-version'],
                    },
                ),
                migrations.AlterField(
                    model_name='annotation',
                    name='model_version',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='annotator.modelversion'),
                ),
                migrations.AlterField(
                    model_name='export',
                    name='model_version',
                    field=models.ForeignKey(blank=True, help_text='The newest model version when the export started; no newer prediction is used', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='annotator.modelversion'),
                ),
                migrations.CreateModel(
                    name='Prediction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('path', models.JSONField(default=list)),
                        ('confidence', models.FloatField(help_text='Probability of the whole predicted path')),
                        ('uncertainty', models.FloatField(default=0.0)),
                        ('mode', models.CharField(choices=[('full', 'label the whole path'), ('fine', 'coarse settled, ask below it'), ('verify', 'confirm the prediction')], default='full', max_length=10)),
                        ('settled_depth', models.PositiveSmallIntegerField(default=0, help_text='Leading levels the model is sure of')),
                        ('strategy', models.CharField(blank=True, help_text='Strategy that picked it', max_length=50)),
                        ('priority', models.FloatField(default=0.0)),
                        ('rejected', models.BooleanField(default=False)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('item', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to='annotator.item')),
                        ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to='annotator.modelversion')),
                        ('predicted_node', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='annotator.taxonomynode')),
                    ],
                    options={
                        'db_table': 'learning_prediction',
                        'ordering': ['-model_version_id'],
                    },
                ),
                migrations.AlterField(
                    model_name='annotation',
                    name='prediction',
                    field=models.ForeignKey(blank=True, help_text='The prediction shown to the annotator', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='annotator.prediction'),
                ),
                migrations.AlterField(
                    model_name='assignment',
                    name='prediction',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='annotator.prediction'),
                ),
                migrations.AddConstraint(
                    model_name='modelversion',
                    constraint=models.UniqueConstraint(fields=('project', 'version'), name='model_version_unique'),
                ),
                migrations.AddConstraint(
                    model_name='prediction',
                    constraint=models.UniqueConstraint(fields=('item', 'model_version'), name='prediction_unique'),
                ),
            ],
        ),
    ]
