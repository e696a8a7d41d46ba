"""A real TAXII 2.1 server on loopback for the tests: OASIS' medallion, its memory backend, basic auth.

``TaxiiTestServer`` writes medallion's configuration and data file, starts this module in a subprocess (medallion's
Flask application is one module-level object, so one server per process) and reads the port it listens on.
Objects are added over TAXII itself (``Add Objects``), as a producer would: the server notes when it added each.

Run as a script, it serves the configuration file given as its argument and prints its port on the first line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme
from medallion import load_app  # type: ignore[import-untyped]
from taxii2client.common import _HTTPConnection  # type: ignore[import-untyped]
from taxii2client.v21 import Collection  # type: ignore[import-untyped]
from werkzeug.serving import make_server

USER = "alertd"
PASSWORD = "correct horse battery staple"
API_ROOT = "api1"
MEDIA_TAXII = "application/taxii+json;version=2.1"


class TaxiiTestServer:
    """medallion serving the given collections (collection id → STIX objects) under ``/api1/``, in a subprocess.

    A collection whose objects are ``None`` is served broken: listing it crashes medallion (HTTP 500).
    Use as ``with TaxiiTestServer(tmp, {...}) as server:``; ``server.collection_url(id)`` is a feed's url.
    """

    def __init__(
        self,
        folder: Path,
        collections: dict[str, list[dict[str, Any]] | None],
        page_size: int = 100,
        ca: trustme.CA | None = None,
    ):
        self.folder = folder
        self.collections = collections
        self.page_size = page_size
        self.ca = ca  # serves https:// with a certificate for 127.0.0.1 from this CA
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> TaxiiTestServer:
        data: dict[str, Any] = {
            "/discovery": {"title": "alertd tests", "api_roots": [], "default": ""},
            API_ROOT: {
                "information": {
                    "title": "tests",
                    "versions": [MEDIA_TAXII],
                    "max_content_length": 50 * 1024 * 1024,
                },
                "status": [],
                "collections": [
                    {
                        "id": cid,
                        "title": cid,
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        # A broken collection: an object without id, on which medallion's filters fail.
                        "objects": [{"type": "indicator"}] if objects is None else [],
                        "manifest": [],
                    }
                    for cid, objects in self.collections.items()
                ],
            },
        }
        data_file = self.folder / "taxii-data.json"
        data_file.write_text(json.dumps(data))
        config = self.folder / "medallion.json"
        config.write_text(
            json.dumps(
                {
                    "backend": {
                        "module": "medallion.backends.memory_backend",
                        "module_class": "MemoryBackend",
                        "filename": str(data_file),
                    },
                    "users": {USER: PASSWORD},
                    "taxii": {"max_page_size": self.page_size},
                }
            )
        )
        command = [sys.executable, __file__, str(config)]
        if self.ca is not None:
            cert = self.ca.issue_cert("127.0.0.1")
            cert.cert_chain_pems[0].write_to_path(str(self.folder / "taxii-cert.pem"))
            cert.private_key_pem.write_to_path(str(self.folder / "taxii-key.pem"))
            command += [str(self.folder / "taxii-cert.pem"), str(self.folder / "taxii-key.pem")]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"medallion did not start: {line!r}")
        self.port = int(line)
        for cid, objects in self.collections.items():
            if objects:
                self.add(cid, objects)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def collection_url(self, collection_id: str) -> str:
        """The collection's URL, as a feed's ``url``."""
        scheme = "https" if self.ca is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{API_ROOT}/collections/{collection_id}/"

    def add(self, collection_id: str, objects: list[dict[str, Any]]) -> None:
        """Add objects to a collection over TAXII (``Add Objects``), as a producer does."""
        conn = _HTTPConnection(USER, PASSWORD, version="2.1")
        conn.session.trust_env = False  # else REQUESTS_CA_BUNDLE would replace the test CA
        if self.ca is not None:
            conn.session.verify = str(self.folder / "taxii-ca.pem")
            self.ca.cert_pem.write_to_path(conn.session.verify)
        with Collection(self.collection_url(collection_id), conn=conn) as collection:
            status = collection.add_objects({"objects": objects})
            assert status.status == "complete" and status.failure_count == 0, status


def _serve(config_path: str, cert: str | None = None, key: str | None = None) -> None:
    tls = (cert, key) if cert and key else None
    server = make_server("127.0.0.1", 0, load_app(config_path), threaded=True, ssl_context=tls)
    print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve(*sys.argv[1:])
