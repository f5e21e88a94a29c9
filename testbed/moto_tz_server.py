"""moto_server, with MSK timestamps made timezone-aware.

    python testbed/moto_tz_server.py -H 127.0.0.1 -p PORT

moto 5.2.5 writes MSK `creationTime` as a naive ISO time (no UTC offset);
the Rust AWS SDK rejects that, so ListClustersV2 fails as soon as one cluster
exists. This wrapper makes moto's kafka models use UTC-aware `now()` and then
runs moto's own server entry point with the same arguments.
"""

import datetime
import sys

import moto.kafka.models as kafka_models


class _AwareDateTime(datetime.datetime):
    """`datetime.now()` that is UTC-aware unless a zone is given."""

    @classmethod
    def now(cls, tz=None):
        return datetime.datetime.now(tz or datetime.timezone.utc)


kafka_models.datetime = _AwareDateTime

from moto.server import main  # noqa: E402  (after the patch on purpose)

if __name__ == "__main__":
    main(sys.argv[1:])
