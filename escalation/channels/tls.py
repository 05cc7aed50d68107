"""TLS trust settings shared by the SMTP and HTTP channels: system CAs, a private CA, or none."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from escalation.channels.notification import ChannelError
from escalation.channels.spec import SpecReader


@dataclass(frozen=True)
class TlsTrust:
    ca_file: Path | None = None  # PEM with the CA(s) to trust instead of the system store
    verify: bool = True  # False only for tests and self-signed lab servers

    def context(self, label: str) -> ssl.SSLContext:
        """A client context; an unreadable ca_file cannot be fixed by retrying."""
        if not self.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(f"{label}: cannot load ca_file {self.ca_file}: {exc}", retryable=False) from None


def read_trust(reader: SpecReader) -> TlsTrust:
    verify = reader.boolean("verify", True)
    ca_file = reader.path("ca_file", "/etc/ssl/private-ca.pem")
    if ca_file is not None:
        if not verify:
            reader.add(
                "verify",
                "ca_file and verify: false contradict each other; keep ca_file to trust a private CA, "
                "or remove it to skip verification (tests only)",
            )
        elif not ca_file.is_file():
            reader.add("ca_file", f"ca_file {str(ca_file)!r} does not exist; give the path of a PEM file with the CA certificate(s)")
        else:
            try:
                ssl.create_default_context(cafile=str(ca_file))
            except (OSError, ssl.SSLError) as exc:
                reader.add("ca_file", f"ca_file {str(ca_file)!r} is not a readable PEM CA certificate ({exc}); give a PEM file")
    return TlsTrust(ca_file=ca_file, verify=verify)
