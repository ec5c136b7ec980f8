"""The refusals a service may answer with, each with a message in words for the user.

Every layer imports them from here: the API turns them into 400 / 409 answers, the
commands into clean errors, and the learning app raises them too.
"""


class ServiceError(Exception):
    """An expected refusal with a message for the client."""


class InvalidInput(ServiceError):
    pass


class StaleLease(ServiceError):
    pass


class TooManyLeases(ServiceError):
    """The person holds as many open leases as one may (``ARBOR_MAX_OPEN_LEASES``)."""


class ImportRejected(InvalidInput):
    """The input cannot be imported; the message says why, in words for the user."""


class UploadTooLarge(InvalidInput):
    """Larger than ``ARBOR_MAX_UPLOAD_BYTES``: tus answers 413."""


class UploadConflict(ServiceError):
    """A resumable upload's part that does not start where the upload stands (tus: 409)."""
