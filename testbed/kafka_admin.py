"""Administration of a test-bed Kafka cluster through the Admin API
(confluent-kafka, i.e. librdkafka), for what kcp's test helpers cannot do
with rdkafka alone. Connects to the cluster's PLAINTEXT listener, whose
principal is a super user (see testbed/kafka.sh).

    python kafka_admin.py BOOTSTRAP scram-user USER PASSWORD [MECHANISM ...]
        Creates or updates a SCRAM user (default: both SCRAM-SHA-256 and -512).
    python kafka_admin.py BOOTSTRAP acl PRINCIPAL OPERATION RESOURCE_TYPE NAME
            [--pattern literal|prefixed] [--deny] [--host HOST]
        Creates one ACL binding (operation and types by their Kafka names,
        e.g. `User:alice READ TOPIC orders`).
"""

import argparse
import sys

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

TIMEOUT = 30


def wait_all(futures):
    for f in futures.values() if isinstance(futures, dict) else futures:
        f.result(timeout=TIMEOUT)


def scram_user(admin, args):
    mechanisms = args.mechanisms or ["SCRAM-SHA-256", "SCRAM-SHA-512"]
    # Kafka refuses two changes to one user in the same request.
    for m in mechanisms:
        upsert = UserScramCredentialUpsertion(
            args.user,
            ScramCredentialInfo(ScramMechanism[m.replace("-", "_")], 4096),
            args.password.encode(),
        )
        wait_all(admin.alter_user_scram_credentials([upsert], request_timeout=TIMEOUT))


def acl(admin, args):
    binding = AclBinding(
        ResourceType[args.resource_type.upper()],
        args.name,
        ResourcePatternType[args.pattern.upper()],
        args.principal,
        args.host,
        AclOperation[args.operation.upper()],
        AclPermissionType.DENY if args.deny else AclPermissionType.ALLOW,
    )
    wait_all(admin.create_acls([binding], request_timeout=TIMEOUT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scram-user")
    p.add_argument("user")
    p.add_argument("password")
    p.add_argument("mechanisms", nargs="*")
    p.set_defaults(run=scram_user)
    p = sub.add_parser("acl")
    p.add_argument("principal")
    p.add_argument("operation")
    p.add_argument("resource_type")
    p.add_argument("name")
    p.add_argument("--pattern", default="literal")
    p.add_argument("--deny", action="store_true")
    p.add_argument("--host", default="*")
    p.set_defaults(run=acl)
    args = parser.parse_args()
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    try:
        args.run(admin, args)
    except Exception as e:  # noqa: BLE001 - one clear line for the caller
        sys.exit(f"kafka_admin.py {args.command}: {e}")


if __name__ == "__main__":
    main()
