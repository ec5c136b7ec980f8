"""What the annotation side announces. Other apps listen; annotator imports none of them."""

from django.dispatch import Signal

# Sent once a transaction that stored human answers has committed, with ``project_id``.
# The learning app listens, to retrain when enough answers have arrived.
answers_committed = Signal()

# Sent once an import that stored new images has succeeded and committed, with
# ``project_id``. The learning app listens, to compute the new images' embeddings.
images_imported = Signal()
