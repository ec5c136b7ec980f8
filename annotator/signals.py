"""What the annotation side announces. Other apps listen; annotator imports none of them."""

from django.dispatch import Signal

# Sent once a transaction that stored human answers has committed, with ``project_id``.
# The learning app listens, to retrain when enough answers have arrived.
answers_committed = Signal()
