"""The folder contract of a built web site, shared by the builder (:mod:`mocar.mobile.web`) and the
light-weight server (:mod:`mocar.mobile.web_server`, which must start without torch)."""
from __future__ import annotations

SITE_FILE = "site.json"  # schema SITE_SCHEMA: models, app model, index folder, precache list
SITE_SCHEMA = "mocar-web-site"
SITE_VERSION = 1
ROWS_FOLDER = "bench_rows"  # benchmark rows posted to `mocar web serve`
