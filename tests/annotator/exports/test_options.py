"""Export options: checked, with a message for each mistake."""

import pytest

from annotator.exceptions import InvalidInput
from annotator.exports.options import export_options_clean


@pytest.mark.parametrize(
    "format, options, message",
    [
        ("xml", {}, "Unknown format"),
        ("csv", [], "must be an object"),
        ("csv", {"colour": 1}, "Unknown option(s) colour"),
        ("csv", {"human_only": "yes"}, "human_only must be true or false"),
        ("csv", {"human_only": True, "include_auto": True}, "exclude each other"),
        ("csv", {"min_agreement": 1.5}, "from 0 to 1"),
        ("csv", {"min_agreement": True}, "from 0 to 1"),
        ("csv", {"layout": "flat"}, "imagefolder exports only"),
        ("imagefolder", {"layout": "tree"}, "layout must be one of"),
    ],
)
def test_bad_options_are_refused(format, options, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        export_options_clean(format=format, options=options)


def test_imagefolder_layout_defaults_to_nested():
    assert export_options_clean(format="imagefolder", options=None).layout == "nested"
