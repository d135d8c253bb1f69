"""Pages for people: the self-contained HTML coverage report and the anchor viewer.

Each page is one file that opens from disk with no network: styles, scripts, charts (SVG
written here) and pictures (``data:`` URIs) are all inline. Colours come from
:mod:`anchorctl.palette`, the same as the PNG drawings'. Builders take numpy arrays and
return text; only :mod:`anchorctl.pages.images` touches Pillow.
"""
