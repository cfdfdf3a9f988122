"""Write a development `.env` with fresh random keys, once (`make run` calls this; an existing file is kept)."""

import base64
import os
import secrets
import sys
from pathlib import Path


def render() -> str:
    key = lambda: base64.b64encode(os.urandom(32)).decode()  # noqa: E731
    return "\n".join(
        [
            "# Written by `make run` on first start. Keep it private; it holds the vault keys.",
            "DJANGO_ENV=development",
            "DEBUG=true",
            f"SECRET_KEY={secrets.token_urlsafe(50)}",
            f"VAULT_KEYS={key()}",
            f"VAULT_INDEX_KEY={key()}",
            "ALLOWED_HOSTS=127.0.0.1,localhost",
            "",
        ]
    )


def main(path: str = ".env") -> int:
    target = Path(path)
    if target.exists():
        print(f"{target} exists, keeping it")
        return 0
    target.write_text(render())
    target.chmod(0o600)
    print(f"wrote {target} with fresh keys")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
