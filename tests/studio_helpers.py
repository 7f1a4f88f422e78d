"""Helpers for the studio tests: a server in a background thread and raw HTTP requests."""

import contextlib
import http.client
import json
from urllib.parse import urlsplit

from convnp.studio import StudioServer

TIMEOUT = 30  # seconds for any one request


@contextlib.contextmanager
def serving(studio):
    """A StudioServer on a free loopback port for ``studio``; shut down afterwards."""
    server = StudioServer(studio, "127.0.0.1", 0)
    server.start_background()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def request(server, method, path, body=None, headers=None):
    """Send one request exactly as given (the path is not normalised); return (status, JSON or bytes)."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data)
        return response.status, data
    finally:
        connection.close()
