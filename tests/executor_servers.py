"""Loopback servers for the executor tests: a scripted HTTP/1.1 server (plain or TLS), a server
that accepts and never answers, and test certificates made with `cryptography`.

Every server binds to 127.0.0.1 or ::1; nothing here opens a connection to any other address.
"""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

METHODS = ("GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "PATCH")


@dataclass
class Seen:
    """One request as the server received it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which accepted connection carried it, from 1


@dataclass
class Reply:
    """How the server answers a route."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b"ok"
    delay: float = 0.0  # seconds to wait before the status line
    chunks: Iterable[bytes] | None = None  # chunked transfer encoding instead of `body`
    write: Callable[[BinaryIO, threading.Event], None] | None = None  # raw bytes, no framing
    close_on_reuse: bool = False  # drop a kept-alive connection's second request unanswered


Route = Reply | Callable[[Seen], Reply]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to first-byte timings
    server: _Server
    requests_here = 0

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            self.connection_number = self.server.connections

    def _any(self) -> None:
        self.requests_here += 1
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            connection=self.connection_number,
        )
        with self.server.lock:
            self.server.seen.append(seen)
        route = self.server.routes.get(self.path.split("?", 1)[0], Reply(404, body=b"no route"))
        reply = route(seen) if callable(route) else route
        if reply.close_on_reuse and self.requests_here > 1:
            self.close_connection = True
            return
        if reply.delay:
            time.sleep(reply.delay)
        if reply.write is not None:
            self.close_connection = True
            reply.write(self.wfile, self.server.stopping)
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.chunks is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.chunks:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_OPTIONS = do_HEAD = do_PUT = _any
    do_DELETE = do_TRACE = do_CONNECT = do_PATCH = _any

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, routes: Mapping[str, Route], tls: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.routes = routes
        self.tls = tls
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.connections = 0
        self.stopping = threading.Event()
        super().__init__((host, 0), _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.tls is not None:
            # The handshake runs in the handler thread, on its first read.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up mid-answer are the point of several tests


class Server:
    """A threaded HTTP/1.1 server on loopback that answers by path and records what it saw."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = _Server(host, routes, tls)
        self.host = host
        self.port: int = self._server.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    @property
    def seen(self) -> list[Seen]:
        return self._server.seen

    @property
    def connections(self) -> int:
        return self._server.connections

    def url(self, path: str = "/", host: str | None = None) -> str:
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{name}:{self.port}{path}"

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class SilentServer:
    """Accepts connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept)

    def _accept(self) -> None:
        self._sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self._held.append(conn)

    @property
    def accepted(self) -> int:
        return len(self._held)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()


def trickle(head: bytes, rest: bytes, interval: float = 1.0) -> Callable[..., None]:
    """A raw writer: `head` at once, then `rest` one byte per `interval` seconds."""

    def write(out: BinaryIO, stopping: threading.Event) -> None:
        out.write(head)
        out.flush()
        for byte in rest:
            if stopping.wait(interval):
                return
            out.write(bytes([byte]))
            out.flush()

    return write


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Certificate:
    """A PEM certificate and key for a loopback TLS server, and its notAfter."""

    cert_pem: bytes
    key_pem: bytes
    not_after: int
    ca_pem: bytes | None = None  # the issuer to trust, None when self-signed

    def server_context(self, sni: list[str] | None = None) -> ssl.SSLContext:
        import tempfile

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.NamedTemporaryFile() as cert, tempfile.NamedTemporaryFile() as key:
            cert.write(self.cert_pem)
            key.write(self.key_pem)
            cert.flush()
            key.flush()
            context.load_cert_chain(cert.name, key.name)
        if sni is not None:

            def record(_sock: object, name: str | None, _context: object) -> None:
                sni.append(name or "")

            context.sni_callback = record  # type: ignore[assignment]
        return context


def make_certificate(names: Iterable[str], *, issuer: Certificate | None = None) -> Certificate:
    """A certificate for `names` (DNS names or IP addresses), self-signed or signed by `issuer`."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names = list(names)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    not_after = now + datetime.timedelta(days=30)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    if issuer is None:
        issuer_name, signing_key, issuer_public = subject, key, key.public_key()
    else:
        issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem)
        issuer_name = issuer_cert.subject
        signing_key = serialization.load_pem_private_key(issuer.key_pem, None)
        issuer_public = issuer_cert.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
    )
    cert = builder.sign(signing_key, hashes.SHA256())
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        not_after=int(not_after.timestamp()),
        ca_pem=None if issuer is None else issuer.cert_pem,
    )


def make_ca(name: str) -> Certificate:
    """A certificate authority that signs test server certificates."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    not_after = now + datetime.timedelta(days=60)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        not_after=int(not_after.timestamp()),
    )


def resolver(table: Mapping[str, list[str]]) -> Callable[[str, int], list[str]]:
    """An injectable resolver: names from `table`, anything else fails like an unknown name."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(table[host])

    return resolve


def big_chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = b"x" * size
    sent = 0
    while sent < total:
        yield block
        sent += size
