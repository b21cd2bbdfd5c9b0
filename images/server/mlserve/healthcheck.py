"""The image's HEALTHCHECK, for `docker run` and Compose (Kubernetes uses its own probes):
exit 0 when the server's liveness endpoint answers 200 on this container's ADMIN_PORT, 1 otherwise."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 2.0


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('ADMIN_PORT', '8081')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
