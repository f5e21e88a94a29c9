"""`moto_server`, with MSK timestamps that carry a UTC offset.

    python testbed/moto_tz_server.py -H 127.0.0.1 -p PORT   # same argv as moto_server

Why: moto 5.2.5 stamps an MSK cluster with `datetime.now().isoformat()`, a
naive local time such as `2026-11-25T08:31:10.123456`. The Rust AWS SDK reads
`creationTime` as an RFC-3339 date-time and rejects a value without an
offset, so `ListClustersV2` fails as soon as one cluster exists.

How: `moto.kafka.models` imports the `datetime` class by name. We replace that
one name with a subclass whose `now()` defaults to UTC, so the stored string
becomes `2026-11-25T08:31:10.123456+00:00`, then hand the untouched argv to
moto's own server entry point. Nothing else in moto is changed.
"""

import datetime
import sys

import moto.kafka.models as kafka_models

# Fail loudly if a moto upgrade stops importing the class by name: the patch
# below would then silently do nothing and the Rust SDK would break again.
if getattr(kafka_models, "datetime", None) is not datetime.datetime:
    sys.exit("moto_tz_server: moto.kafka.models no longer imports `datetime`; update the patch")


class _UtcDefaultDateTime(datetime.datetime):
    """`datetime` whose `now()` is timezone-aware (UTC) unless a zone is given."""

    @classmethod
    def now(cls, tz=None):
        return datetime.datetime.now(tz or datetime.timezone.utc)


kafka_models.datetime = _UtcDefaultDateTime

# Imported only after the patch so that the server sees the patched module.
from moto.server import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
