"""What every API view does the same way: validate input, call a service."""

from rest_framework.exceptions import ValidationError

from annotator.api.errors import Conflict
from annotator.exceptions import InvalidInput, StaleLease, TooManyLeases


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def service_call(function, **kwargs):
    """Turn a service's expected refusals into 400 / 409 answers."""
    try:
        return function(**kwargs)
    except (StaleLease, TooManyLeases) as error:
        raise Conflict(str(error)) from error
    except InvalidInput as error:
        raise ValidationError({"detail": str(error)}) from error
