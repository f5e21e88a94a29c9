"""Writes a client certificate that expired long ago, signed by a test-bed
cluster's CA (testbed/kafka.sh lays the CA out in DIR/tls), for the test of
kcp's error on an expired certificate.

    python expired_cert.py TLS_DIR OUT_CERT OUT_KEY
"""

import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def main():
    tls_dir, out_cert, out_key = sys.argv[1:]
    with open(f"{tls_dir}/ca.pem", "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    with open(f"{tls_dir}/ca.key", "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kcp-client")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc))
        .sign(ca_key, hashes.SHA256())
    )
    with open(out_cert, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(out_key, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


if __name__ == "__main__":
    main()
