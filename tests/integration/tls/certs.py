"""The test PKI of tests/tls/make_certs.sh for Python tests.

    pki = TestPki()            # generated into a fresh temporary directory
    pki.cert("server"), pki.key("server"), pki.serial("server"), pki.dir
    pki.remove()

Names: see make_certs.sh (ca, server, server2, client, other-ca, other-server, other-client,
expired, expired-client, node-<id>).
"""
import os
import shutil
import subprocess
import tempfile

MAKE_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tls",
                          "make_certs.sh")


class TestPki:
    def __init__(self, nodes=5, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="raftkv-pki-")
        subprocess.run([MAKE_CERTS, self.dir, str(nodes)], check=True,
                       stdout=subprocess.DEVNULL)

    def cert(self, name):
        return os.path.join(self.dir, f"{name}.crt")

    def key(self, name):
        return os.path.join(self.dir, f"{name}.key")

    def serial(self, name):
        with open(os.path.join(self.dir, f"{name}.serial")) as f:
            return f.read().strip()

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)
