"""The executor against real servers on 127.0.0.1 and ::1: every outcome happens for real.

Traffic goes to loopback only. Names other than `localhost` are answered by an injected
resolver, so no test looks up a real name; refusals of non-loopback addresses are decided by the
guard before any packet is sent (tests/test_netguard.py covers every address form).
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from standardwebhooks import Webhook

from chalicelib import __version__, signing, transport
from chalicelib.executor import (
    LOOKUPS,
    Lookups,
    Policy,
    Request,
    Result,
    execute,
    prepare,
    wait_until,
)
from tests.executor_servers import (
    METHODS,
    Certificate,
    Reply,
    Seen,
    Server,
    SilentServer,
    big_chunks,
    free_port,
    make_ca,
    make_certificate,
    resolver,
    trickle,
)

LOCAL = Policy(allow_private=True)  # what local development and these tests configure
GUARDED = Policy()  # production: private targets refused
PHASES = ("nameLookup", "connect", "appConnect", "preTransfer", "startTransfer", "total")
NOW = 1_700_000_000.0


def clock() -> float:
    return NOW


def assert_monotonic(result: Result, tls: bool) -> None:
    stats = result.stats
    assert set(stats) == set(PHASES)
    phases = [p for p in PHASES if tls or p != "appConnect"]
    values = [stats[p] for p in phases]
    assert values == sorted(values), stats
    assert stats["connect"] > 0
    assert result.duration_ms == stats["total"] // 1000


# ----------------------------------------------------------------------------- outcomes


def test_it_reports_ok_with_status_headers_body_and_timings() -> None:
    reply = Reply(200, [("X-Served-By", "alice")], b'{"status": "up"}')
    with Server({"/health": reply}) as server:
        result = execute(Request(server.url("/health"), now=clock), LOCAL)
    assert (result.status, result.reason, result.status_text) == (1, "ok", "OK")
    assert result.ok
    assert (result.http_status, result.http_reason) == (200, "OK")
    assert ("X-Served-By", "alice") in result.headers
    assert result.body == b'{"status": "up"}'
    assert result.body_size == len(reply.body)
    assert result.remote_ip == "127.0.0.1"
    assert result.redirects == []
    assert result.started_at == NOW
    assert (result.tls_verified, result.ssl_cert_expiry) == (False, None)
    assert result.stats["appConnect"] == 0
    assert_monotonic(result, tls=False)


def test_it_reports_a_refused_port_as_a_connect_error() -> None:
    port = free_port()
    result = execute(Request(f"http://127.0.0.1:{port}/"), LOCAL)
    assert (result.status, result.reason) == (3, "connect_error")
    assert result.status_text == "Could not connect to 127.0.0.1: Connection refused"
    assert result.http_status == 0
    assert result.stats["total"] > 0


def test_it_times_out_on_a_server_that_accepts_and_never_answers() -> None:
    with SilentServer() as server:
        started = time.monotonic()
        result = execute(Request(f"http://127.0.0.1:{server.port}/", timeout=1.0), LOCAL)
        elapsed = time.monotonic() - started
    assert (result.status, result.reason) == (5, "timeout")
    assert result.status_text == "Timed out after 1 s for a response"
    assert 0.9 <= elapsed < 1.6
    assert server.accepted == 1


@pytest.mark.parametrize(
    ("head", "rest"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n", b"x" * 60, id="body"),
        pytest.param(b"H", b"TTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", id="status"),
        # Cut at the deadline, these two used to read as the end of the headers or of a body
        # without a length: a hung target was recorded as a success.
        pytest.param(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"y" * 60, id="headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"z" * 60, id="unsized"),
    ],
)
def test_it_stops_a_trickling_server_at_the_total_deadline(head: bytes, rest: bytes) -> None:
    # Each byte arrives within the socket timeout, so only the wall-clock deadline can end it.
    with Server({"/": Reply(write=trickle(head, rest, interval=1.0))}) as server:
        started = time.monotonic()
        result = execute(Request(server.url("/"), timeout=1.5), LOCAL)
        elapsed = time.monotonic() - started
    assert (result.status, result.reason) == (5, "timeout")
    assert result.status_text == "Timed out after 1.5 s reading the response"
    assert 1.4 <= elapsed < 2.1
    assert result.stats["startTransfer"] > 0


def test_it_keeps_body_cap_bytes_of_a_10_mb_body_and_fails_with_too_much_data() -> None:
    ten_mb = 10 * 1024 * 1024
    with Server({"/big": Reply(body=b"x" * ten_mb)}) as server:
        result = execute(Request(server.url("/big")), LOCAL)
    assert (result.status, result.reason) == (6, "too_much_data")
    assert result.status_text == "The response body is larger than 4194304 bytes"
    assert result.http_status == 200
    assert len(result.body) == LOCAL.body_cap
    assert result.body_size == ten_mb  # from Content-Length


def test_it_keeps_header_cap_bytes_of_huge_response_headers() -> None:
    huge = [(f"X-Big-{n}", "h" * 60_000) for n in range(40)]  # 2.4 MB, within http.client's
    with Server({"/": Reply(200, [("X-First", "1"), *huge])}) as server:
        result = execute(Request(server.url("/")), LOCAL)
    assert result.ok
    kept = sum(len(name) + len(value) + 4 for name, value in result.headers)
    assert kept <= LOCAL.header_cap + 100
    assert ("X-First", "1") in result.headers
    assert result.headers[-1] == (
        "X-Cronhook-Truncated",
        "headers beyond 32768 bytes were not kept",
    )


def test_it_stops_reading_a_chunked_body_at_the_hard_limit() -> None:
    policy = Policy(allow_private=True, body_cap=1000, hard_limit=256 * 1024)
    with Server({"/big": Reply(chunks=big_chunks(10 * 1024 * 1024))}) as server:
        result = execute(Request(server.url("/big")), policy)
    assert (result.status, result.reason) == (6, "too_much_data")
    assert len(result.body) == 1000
    assert result.body_size is None  # no Content-Length, and we stopped counting


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"", "The server closed the connection without a response"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "Invalid response: BadStatusLine"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "The server closed the connection before the end of the body",
        ),
    ],
)
def test_it_reports_a_server_that_breaks_the_protocol(raw: bytes, text: str) -> None:
    with Server({"/": Reply(write=trickle(raw, b""))}) as server:
        result = execute(Request(server.url("/")), LOCAL)
    assert (result.status, result.reason, result.status_text) == (4, "protocol_error", text)


def test_it_decodes_a_compressed_body_and_counts_decoded_bytes() -> None:
    import gzip

    text = b"all systems go " * 100
    reply = Reply(headers=[("Content-Encoding", "gzip")], body=gzip.compress(text))
    with Server({"/": reply}) as server:
        result = execute(Request(server.url("/"), success_match="systems go"), LOCAL)
    assert result.ok
    assert (result.body, result.body_size) == (text, len(text))


def test_it_keeps_body_cap_bytes_and_counts_the_rest() -> None:
    policy = Policy(allow_private=True, body_cap=10)
    with Server({"/": Reply(chunks=[b"0123456789", b"abcdef"])}) as server:
        result = execute(Request(server.url("/")), policy)
    assert result.ok
    assert (result.body, result.body_size) == (b"0123456789", 16)


def test_it_reports_a_redirect_loop() -> None:
    routes = {"/a": Reply(302, [("Location", "/b")]), "/b": Reply(302, [("Location", "/a")])}
    with Server(routes) as server:
        result = execute(Request(server.url("/a")), LOCAL)
    assert (result.status, result.reason) == (4, "redirect_loop")
    assert result.status_text == f"Redirect loop at {server.url('/a')}"
    assert result.redirects == [server.url("/b")]
    assert result.http_status == 302


def test_it_stops_after_max_redirects() -> None:
    def hop(seen: Seen) -> Reply:
        n = int(seen.path.split("=")[1])
        return Reply(301, [("Location", f"/hop?n={n + 1}")])

    with Server({"/hop": hop}) as server:
        policy = Policy(allow_private=True, max_redirects=3)
        result = execute(Request(server.url("/hop?n=0")), policy)
    assert (result.status, result.reason) == (4, "too_many_redirects")
    assert result.status_text == "More than 3 redirects"
    assert len(result.redirects) == 3
    assert len(server.seen) == 4


def test_it_follows_redirects_and_lists_them() -> None:
    routes = {
        "/old": Reply(301, [("Location", "/older")]),
        "/older": Reply(302, [("Location", "/new?x=1")]),
        "/new": Reply(200, body=b"arrived"),
    }
    with Server(routes) as server:
        result = execute(Request(server.url("/old")), LOCAL)
    assert result.ok
    assert result.body == b"arrived"
    assert result.redirects == [server.url("/older"), server.url("/new?x=1")]


def test_it_counts_a_3xx_as_success_with_redirect_success_and_does_not_follow() -> None:
    with Server({"/": Reply(302, [("Location", "/elsewhere")])}) as server:
        result = execute(Request(server.url("/"), redirect_success=True), LOCAL)
    assert result.ok
    assert result.http_status == 302
    assert [s.path for s in server.seen] == ["/"]


def test_it_fails_a_3xx_without_location_unless_redirect_success() -> None:
    with Server({"/": Reply(304, body=b"")}) as server:
        result = execute(Request(server.url("/")), LOCAL)
    assert (result.status, result.reason, result.status_text) == (
        4,
        "http_error",
        "HTTP 304 Not Modified",
    )


def test_it_turns_a_post_into_a_get_on_303_and_keeps_it_on_307() -> None:
    routes = {
        "/see-other": Reply(303, [("Location", "/landing")]),
        "/temporary": Reply(307, [("Location", "/landing")]),
        "/landing": Reply(200),
    }
    headers = {"Content-Type": "application/json"}
    with Server(routes) as server:
        for path in ("/see-other", "/temporary"):
            request = Request(server.url(path), "POST", headers, body='{"n": 1}')
            assert execute(request, LOCAL).ok
    after_303, after_307 = server.seen[1], server.seen[3]
    assert (after_303.method, after_303.body, "content-type" in after_303.headers) == (
        "GET",
        b"",
        False,
    )
    assert (after_307.method, after_307.body) == ("POST", b'{"n": 1}')


def test_it_drops_credentials_on_a_cross_origin_redirect() -> None:
    # As curl does since 7.83.1: Authorization and cookies go to the job's origin only.
    credentials = {"Cookie": "sid=s3cret", "Proxy-Authorization": "Basic cA=="}
    with Server({"/": Reply(200)}) as other:
        routes = {
            "/same": Reply(302, [("Location", "/final")]),
            "/final": Reply(200),
            "/away": Reply(302, [("Location", other.url("/"))]),
        }
        with Server(routes) as server:
            auth = ("alice", "s3cret")
            headers = {**credentials, "X-Trace": "t1"}
            assert execute(Request(server.url("/same"), auth=auth, headers=headers), LOCAL).ok
            assert execute(Request(server.url("/away"), auth=auth, headers=headers), LOCAL).ok
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert [s.headers.get("authorization") for s in server.seen] == [expected] * 3
    assert [s.headers.get("cookie") for s in server.seen] == ["sid=s3cret"] * 3
    away = other.seen[0].headers
    assert {"authorization", "cookie", "proxy-authorization"}.isdisjoint(away)
    assert away["x-trace"] == "t1"  # other headers follow, as with curl


def test_it_blocks_a_redirect_to_the_metadata_address() -> None:
    routes = {
        "/ip": Reply(302, [("Location", "http://169.254.169.254/latest/meta-data/")]),
        "/name": Reply(302, [("Location", "http://metadata.test/")]),
    }
    policy = Policy(allow_private=True, resolver=resolver({"metadata.test": ["169.254.169.254"]}))
    with Server(routes) as server:
        for path in ("/ip", "/name"):
            result = execute(Request(server.url(path)), policy)
            assert (result.status, result.reason) == (3, "blocked")
            assert result.status_text == "Blocked: 169.254.169.254 is a cloud metadata address"
            assert result.http_status == 302  # the last response there was
    assert len(server.seen) == 2


def test_it_refuses_a_redirect_to_another_scheme() -> None:
    with Server({"/": Reply(302, [("Location", "ftp://files.test/x")])}) as server:
        result = execute(Request(server.url("/")), LOCAL)
    assert (result.status, result.reason) == (7, "invalid_url")
    assert result.status_text == "Invalid redirect: scheme 'ftp' is not http or https"


# ----------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    ("host", "blocked"),
    [
        ("localhost", "127.0.0.1 is a loopback address"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 embeds 127.0.0.1, a loopback address"),
    ],
)
def test_it_blocks_loopback_with_the_guard_on_before_connecting(host: str, blocked: str) -> None:
    with Server({"/": Reply(200)}) as server:
        result = execute(Request(server.url("/", host=host)), GUARDED)
    assert (result.status, result.reason) == (3, "blocked")
    assert result.status_text == f"Blocked: {blocked}"
    assert (server.connections, server.seen) == (0, [])


def test_it_blocks_ipv6_loopback_with_the_guard_on_before_connecting() -> None:
    with Server({"/": Reply(200)}, host="::1") as server:
        result = execute(Request(server.url("/")), GUARDED)
        assert execute(Request(server.url("/")), LOCAL).ok  # the server was there to reach
    assert (result.status, result.status_text) == (3, "Blocked: ::1 is a loopback address")
    assert server.connections == 1


def test_it_blocks_a_name_that_resolves_to_a_private_address() -> None:
    policy = Policy(resolver=resolver({"intranet.test": ["10.0.0.5"]}))
    result = execute(Request("http://intranet.test/"), policy)
    assert (result.status, result.reason) == (3, "blocked")
    assert result.status_text == "Blocked: 10.0.0.5 is a private address"
    assert result.remote_ip is None


def test_it_blocks_when_any_resolved_address_is_refused() -> None:
    with Server({"/": Reply(200)}) as server:
        table = {"mixed.test": ["127.0.0.1", "169.254.169.254"]}
        policy = Policy(allow_private=True, resolver=resolver(table))
        result = execute(Request(server.url("/", host="mixed.test")), policy)
    assert result.status_text == "Blocked: 169.254.169.254 is a cloud metadata address"
    assert server.connections == 0


def test_it_refuses_a_resolver_answer_that_is_not_an_address() -> None:
    policy = Policy(allow_private=True, resolver=resolver({"odd.test": ["not-an-ip"]}))
    result = execute(Request("http://odd.test/"), policy)
    assert (result.status, result.status_text) == (3, "Blocked: 'not-an-ip' is not an IP address")


def test_it_connects_to_the_next_address_when_the_first_refuses() -> None:
    with Server({"/": Reply(200)}) as server:
        # Nothing listens on 127.0.0.2 at the server's port.
        policy = Policy(
            allow_private=True, resolver=resolver({"two.test": ["127.0.0.2", "127.0.0.1"]})
        )
        result = execute(Request(server.url("/", host="two.test")), policy)
    assert result.ok
    assert result.remote_ip == "127.0.0.1"
    assert server.seen[0].headers["host"] == f"two.test:{server.port}"


def test_it_reports_a_name_that_does_not_resolve_as_a_dns_error() -> None:
    result = execute(Request("http://nowhere.test/"), Policy(resolver=resolver({})))
    assert (result.status, result.reason) == (2, "dns_error")
    assert result.status_text == "DNS lookup of nowhere.test failed: Name or service not known"


def test_it_reports_a_name_without_addresses_as_a_dns_error() -> None:
    result = execute(Request("http://empty.test/"), Policy(resolver=resolver({"empty.test": []})))
    assert (result.status, result.status_text) == (2, "empty.test has no address")


def test_it_does_not_wait_for_a_slow_resolver_past_the_deadline() -> None:
    def slow(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["127.0.0.1"]

    started = time.monotonic()
    result = execute(Request("http://slow.test/", timeout=0.5), Policy(resolver=slow))
    assert (result.status, result.reason) == (2, "dns_timeout")
    assert time.monotonic() - started < 1.2


def test_it_looks_up_a_name_while_another_lookup_hangs() -> None:
    released = threading.Event()

    def resolve(host: str, port: int) -> list[str]:
        if host == "stuck.test":
            released.wait(10)
        return ["127.0.0.1"]

    policy = Policy(allow_private=True, resolver=resolve)
    with Server({"/": Reply(200)}) as server, ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(execute, Request(f"http://stuck.test:{server.port}/"), policy)
        bob = execute(Request(f"http://bob.test:{server.port}/"), policy)
        released.set()
        assert stuck.result().ok
    assert bob.ok, bob.status_text
    assert bob.remote_ip == "127.0.0.1"


def _idle_reaches(lookups: Lookups, count: int) -> None:
    for _ in range(1000):  # a thread counts itself idle just after its work's last line
        if lookups.idle >= count:
            return
        time.sleep(0.005)
    raise AssertionError(f"{lookups.idle} idle lookup threads, not {count}")


def test_it_reuses_an_idle_lookup_thread_and_starts_one_when_all_are_busy() -> None:
    lookups = Lookups()
    lookups.spare(1)
    assert lookups.started == 1
    _idle_reaches(lookups, 1)
    gate, first_ran, second_ran = threading.Event(), threading.Event(), threading.Event()
    threads: list[int] = []

    def blocked() -> None:
        threads.append(threading.get_ident())
        first_ran.set()
        gate.wait(10)

    def quick() -> None:
        threads.append(threading.get_ident())
        second_ran.set()

    lookups.run(blocked)
    assert first_ran.wait(10)
    lookups.run(quick)  # the only thread is busy: a second one starts
    assert second_ran.wait(10)
    assert lookups.started == 2
    gate.set()
    _idle_reaches(lookups, 2)
    third_ran = threading.Event()
    lookups.run(third_ran.set)
    assert third_ran.wait(10)
    assert lookups.started == 2
    assert len(set(threads)) == 2


def test_it_prepares_the_transport_and_idle_lookup_threads_ahead_of_calls() -> None:
    prepare(LOCAL, lookup_threads=2)
    assert transport.built()
    net = transport.get()
    assert net.tls_context(True) is net.tls_context(True)
    _idle_reaches(LOOKUPS, 2)


def test_it_ignores_proxy_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    monkeypatch.setenv("NO_PROXY", "")
    with Server({"/": Reply(200)}) as server:
        result = execute(Request(server.url("/")), LOCAL)
    assert result.ok
    assert server.seen[0].path == "/"  # direct: a proxy would have been sent the full URL


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def trusted_ca() -> Certificate:
    return make_ca("cronhook test CA")


@pytest.fixture(scope="module")
def ca_file(trusted_ca: Certificate, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test CA as a PEM file for Policy.ca_file: certificates verify without any network."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(trusted_ca.cert_pem)
    return str(path)


def test_it_verifies_the_certificate_against_the_name_while_connecting_to_the_address(
    trusted_ca: Certificate, ca_file: str
) -> None:
    cert = make_certificate(["tls.test"], issuer=trusted_ca)
    sni: list[str] = []
    policy = Policy(
        allow_private=True, resolver=resolver({"tls.test": ["127.0.0.1"]}), ca_file=ca_file
    )
    with Server({"/": Reply(200, body=b"secure")}, tls=cert.server_context(sni)) as server:
        result = execute(Request(server.url("/", host="tls.test")), policy)
        again = execute(Request(server.url("/", host="tls.test")), policy)
    assert result.ok, result.status_text
    assert result.body == b"secure"
    assert (result.tls_verified, result.ssl_cert_expiry) == (True, cert.not_after)
    assert sni == ["tls.test"]
    assert server.seen[0].headers["host"] == f"tls.test:{server.port}"
    assert result.remote_ip == "127.0.0.1"
    assert result.stats["appConnect"] > result.stats["connect"]
    assert_monotonic(result, tls=True)
    # The kept-alive connection is reused and still reports what its handshake established.
    assert server.connections == 1
    assert (again.ok, again.tls_verified, again.ssl_cert_expiry) == (True, True, cert.not_after)
    assert_monotonic(again, tls=True)


def test_it_refuses_a_certificate_for_another_name(trusted_ca: Certificate, ca_file: str) -> None:
    cert = make_certificate(["tls.test"], issuer=trusted_ca)
    policy = Policy(
        allow_private=True, resolver=resolver({"other.test": ["127.0.0.1"]}), ca_file=ca_file
    )
    with Server({"/": Reply(200)}, tls=cert.server_context()) as server:
        result = execute(Request(server.url("/", host="other.test")), policy)
    assert (result.status, result.reason) == (3, "tls_error")
    assert result.status_text.startswith("TLS error: certificate verify failed: Hostname mismatch")
    assert server.seen == []


def test_it_trusts_the_extra_ca_only_for_calls_whose_policy_names_it(
    trusted_ca: Certificate, ca_file: str
) -> None:
    cert = make_certificate(["tls.test"], issuer=trusted_ca)
    table = {"tls.test": ["127.0.0.1"]}
    private = Policy(allow_private=True, resolver=resolver(table), ca_file=ca_file)
    default = Policy(allow_private=True, resolver=resolver(table))
    with Server({"/": Reply(200)}, tls=cert.server_context()) as server:
        assert execute(Request(server.url("/", host="tls.test")), private).ok
        result = execute(Request(server.url("/", host="tls.test")), default)
    assert (result.status, result.reason) == (3, "tls_error")
    assert result.status_text.startswith("TLS error: certificate verify failed")
    assert server.connections == 2  # the verified connection was not handed to the other call


def test_it_refuses_an_untrusted_certificate() -> None:
    cert = make_certificate(["127.0.0.1"])  # self-signed
    with Server({"/": Reply(200)}, tls=cert.server_context()) as server:
        result = execute(Request(server.url("/")), LOCAL)
    assert (result.status, result.reason) == (3, "tls_error")
    assert result.status_text == "TLS error: certificate verify failed: self-signed certificate"
    assert result.tls_verified is False
    assert server.seen == []


def test_it_accepts_an_untrusted_certificate_without_verification_and_says_so() -> None:
    cert = make_certificate(["127.0.0.1"])
    with Server({"/": Reply(200)}, tls=cert.server_context()) as server:
        result = execute(Request(server.url("/"), tls_verify=False), LOCAL)
    assert result.ok
    assert result.tls_verified is False
    assert result.ssl_cert_expiry == cert.not_after
    assert result.stats["appConnect"] > 0
    assert_monotonic(result, tls=True)


def test_it_never_reuses_an_unverified_connection_for_a_verifying_call() -> None:
    cert = make_certificate(["127.0.0.1"])
    with Server({"/": Reply(200)}, tls=cert.server_context()) as server:
        assert execute(Request(server.url("/"), tls_verify=False), LOCAL).ok
        result = execute(Request(server.url("/")), LOCAL)
    assert result.reason == "tls_error"


# ----------------------------------------------------------------------------- timings


def test_it_measures_the_wait_for_the_first_byte() -> None:
    with Server({"/slow": Reply(200, delay=0.2)}) as server:
        result = execute(Request(server.url("/slow")), LOCAL)
    assert result.ok
    assert result.stats["startTransfer"] >= 200_000
    assert_monotonic(result, tls=False)


def test_it_reuses_a_kept_alive_connection_across_calls() -> None:
    with Server({"/": Reply(200)}) as server:
        first = execute(Request(server.url("/")), LOCAL)
        second = execute(Request(server.url("/")), LOCAL)
    assert first.ok and second.ok
    assert server.connections == 1
    assert_monotonic(second, tls=False)


def test_it_reuses_the_connection_after_an_empty_body_and_after_one_read_to_its_length() -> None:
    routes = {"/empty": Reply(204, body=b""), "/full": Reply(200, body=b"x" * 100_000)}
    with Server(routes) as server:
        results = [
            execute(Request(server.url(path)), LOCAL) for path in ("/empty", "/full", "/empty")
        ]
    assert [r.http_status for r in results] == [204, 200, 204]
    assert [r.body_size for r in results] == [0, 100_000, 0]
    assert len(results[1].body) == LOCAL.body_cap
    assert server.connections == 1


def test_it_builds_one_tls_context_for_calls_that_start_together() -> None:
    net = transport.Transport()
    start = threading.Barrier(8)

    def context(_: int) -> object:
        start.wait(10)
        return net.tls_context(True)

    with ThreadPoolExecutor(8) as pool:
        contexts = list(pool.map(context, range(8)))
    assert len({id(c) for c in contexts}) == 1


def test_it_hands_calls_that_start_together_one_pool_per_target_and_closes_the_oldest() -> None:
    net = transport.Transport()
    start = threading.Barrier(8)

    def pool(_: int) -> object:
        start.wait(10)
        return net.pool("http", "127.0.0.1", 8000, "alice.test", True)

    with ThreadPoolExecutor(8) as threads:
        pools = list(threads.map(pool, range(8)))
    assert len({id(p) for p in pools}) == 1
    first = pools[0]
    for n in range(32):
        net.pool("http", "127.0.0.1", 9000 + n, "bob.test", True)
    assert net.pool("http", "127.0.0.1", 8000, "alice.test", True) is not first  # pushed out


def test_it_completes_a_call_whose_pool_was_pushed_out_meanwhile_and_keeps_no_connection() -> None:
    net = transport.Transport()
    with Server({"/": Reply(200)}) as server:
        taken = net.pool("http", "127.0.0.1", server.port, "127.0.0.1", True)
        for n in range(32):  # other calls to 32 new targets, before this one sends
            net.pool("http", "127.0.0.1", 9000 + n, "bob.test", True)
        response = taken.request("GET", "/", retries=False)
    assert response.status == 200
    assert taken.pool is not None
    assert [c for c in list(taken.pool.queue) if c is not None] == []


def test_a_pool_keeps_its_idle_connections_last_in_first_out_and_never_waits_for_one() -> None:
    import queue

    class Conn:
        closed = False

        def close(self) -> None:
            self.closed = True

    idle = transport.Transport().pool("http", "127.0.0.1", 8000, "alice.test", True).pool
    assert idle is not None
    assert idle.full() and idle.qsize() == transport.POOL_SIZE  # urllib3's placeholders
    with pytest.raises(queue.Full):
        idle.put(Conn(), block=False)
    slots = transport.POOL_SIZE
    assert [idle.get(block=False) for _ in range(slots)] == [None] * slots
    assert idle.empty()
    with pytest.raises(queue.Empty):
        idle.get(block=True, timeout=5)  # at once: pools here never block
    first, last = Conn(), Conn()
    idle.put(first, block=False)
    idle.put(last, block=False)
    assert idle.get(block=False) is last
    idle.put(last, block=False)
    idle.put(None, block=False)

    class Retired:
        pool = idle

    transport._close_idle(Retired())  # type: ignore[arg-type]
    assert first.closed and last.closed and idle.empty()


def test_it_resends_on_a_fresh_connection_when_a_kept_alive_one_was_closed() -> None:
    # The server drops the second request on a connection unanswered, as a server does that
    # closes an idle connection just as the next request arrives.
    with Server({"/": Reply(200, close_on_reuse=True)}) as server:
        assert execute(Request(server.url("/")), LOCAL).ok
        result = execute(Request(server.url("/"), "POST", body="x"), LOCAL)
    assert result.ok, result.status_text
    assert [s.connection for s in server.seen] == [1, 1, 2]


def test_it_keeps_concurrent_calls_apart(caplog: pytest.LogCaptureFixture) -> None:
    def echo(seen: Seen) -> Reply:
        return Reply(200, body=seen.path.encode(), delay=0.01)

    with Server({"/echo": echo}) as server, ThreadPoolExecutor(8) as pool:
        urls = [server.url(f"/echo?n={n}") for n in range(40)]
        results = list(pool.map(lambda url: execute(Request(url), LOCAL), urls))
    assert [r.body.decode() for r in results] == [f"/echo?n={n}" for n in range(40)]
    assert all(r.ok for r in results)
    for result in results:
        assert_monotonic(result, tls=False)
    assert "pool is full" not in caplog.text


# ----------------------------------------------------------------------------- the request


@pytest.mark.parametrize("method", METHODS)
def test_it_sends_every_method(method: str) -> None:
    with Server({"/m": Reply(200)}) as server:
        result = execute(Request(server.url("/m"), method.lower()), LOCAL)
    assert result.ok, result.status_text
    assert server.seen[0].method == method


def test_it_sends_auth_headers_and_body() -> None:
    request = Request(
        "http://127.0.0.1/placeholder",
        "PUT",
        {"X-Team": "bob", "Content-Type": "text/plain"},
        body="hello charlie",
        auth=("bob", "pa:ss word"),
    )
    with Server({"/put": Reply(204, body=b"")}) as server:
        result = execute(_at(request, server.url("/put?a=1&b=2")), LOCAL)
    assert result.ok
    seen = server.seen[0]
    assert (seen.method, seen.path, seen.body) == ("PUT", "/put?a=1&b=2", b"hello charlie")
    assert seen.headers["x-team"] == "bob"
    assert seen.headers["content-type"] == "text/plain"
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"bob:pa:ss word").decode()
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"


def test_it_sends_a_body_without_content_type_as_a_form_like_curl() -> None:
    # cron-job.org sends a job's body with curl, which labels it a form: PHP's $_POST reads it.
    with Server({"/": Reply(200)}) as server:
        assert execute(Request(server.url("/"), "POST", body="a=1&b=2"), LOCAL).ok
        assert execute(Request(server.url("/"), "GET"), LOCAL).ok
    posted, got = server.seen
    assert posted.headers["content-type"] == "application/x-www-form-urlencoded"
    assert posted.body == b"a=1&b=2"
    assert "content-type" not in got.headers


def test_it_sends_url_credentials_as_basic_auth_and_never_reports_them() -> None:
    with Server({"/": Reply(302, [("Location", "/next")]), "/next": Reply(200)}) as server:
        url = f"http://alice:wonder%20land@127.0.0.1:{server.port}/"
        result = execute(Request(url), LOCAL)
    assert result.ok
    expected = "Basic " + base64.b64encode(b"alice:wonder land").decode()
    assert server.seen[0].headers["authorization"] == expected
    assert result.redirects == [server.url("/next")]


def test_it_sends_non_ascii_header_values_as_utf8() -> None:
    with Server({"/": Reply(200)}) as server:
        assert execute(Request(server.url("/"), headers={"X-Name": "Zoë €"}), LOCAL).ok
    # http.server reads header bytes as Latin-1.
    assert server.seen[0].headers["x-name"].encode("latin-1").decode("utf-8") == "Zoë €"


def test_it_sends_a_cronhook_user_agent_unless_the_job_sets_one() -> None:
    with Server({"/": Reply(200)}) as server:
        execute(Request(server.url("/")), LOCAL)
        execute(Request(server.url("/"), headers={"user-agent": "charlie-bot/2"}), LOCAL)
    assert server.seen[0].headers["user-agent"] == f"cronhook/{__version__}"
    assert server.seen[1].headers["user-agent"] == "charlie-bot/2"


def test_it_replaces_variables_in_url_headers_and_body() -> None:
    request = Request(
        "http://127.0.0.1/placeholder",
        "POST",
        {"X-Run": "{{runId}}", "X-Id": "%cjo:uuid4%"},
        body="t={{unixtime}} iso={{isotime}} u={{uuid4}} p={{plannedTime}} c=%cjo:unixtime%",
        run_id="run-42",
        planned_time=NOW - 5,
        now=clock,
    )
    with Server({"/v": Reply(200)}) as server:
        result = execute(_at(request, server.url("/v?t={{unixtime}}&run={{runId}}")), LOCAL)
    assert result.ok
    seen = server.seen[0]
    assert seen.path == "/v?t=1700000000&run=run-42"
    assert seen.headers["x-run"] == "run-42"
    generated = uuid.UUID(seen.headers["x-id"])
    assert generated.version == 4
    assert seen.body.decode() == (
        f"t=1700000000 iso=2023-11-14T22:13:20Z u={generated} p=1699999995 c=1700000000"
    )


def test_it_refuses_a_header_with_a_line_break_and_sends_nothing() -> None:
    with Server({"/": Reply(200)}) as server:
        headers = {"X-Token": "abc\r\nX-Injected: 1"}
        result = execute(Request(server.url("/"), headers=headers), LOCAL)
    assert (result.status, result.reason) == (8, "invalid_header")
    assert result.status_text == (
        "Header 'X-Token' has a line break or an invalid name; it was not sent"
    )
    assert "abc" not in result.status_text
    assert server.connections == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.test/", "scheme 'ftp' is not http or https"),
        ("http:///path", "no host"),
        ("not a url", "scheme '' is not http or https"),
        ("http://127.0.0.1:99999/", "Port out of range 0-65535"),
        ("http://exa mple.test/", "'exa mple.test' is not a valid host name"),
        ("http://example.test/\r\nHost: evil", "it contains control characters"),
    ],
)
def test_it_reports_an_invalid_url(url: str, why: str) -> None:
    result = execute(Request(url), LOCAL)
    assert (result.status, result.reason) == (7, "invalid_url")
    assert result.status_text == f"Invalid URL: {why}"


def test_it_reports_a_failing_clock_instead_of_raising() -> None:
    def broken() -> float:
        raise RuntimeError("no clock")

    result = execute(Request("http://127.0.0.1/", now=broken), LOCAL)
    assert (result.status, result.reason, result.status_text) == (
        8,
        "internal_error",
        "RuntimeError",
    )


def test_it_refuses_an_unknown_method() -> None:
    result = execute(Request("http://127.0.0.1/", "BREW"), LOCAL)
    assert (result.status, result.reason) == (8, "invalid_method")


# ----------------------------------------------------------------------------- signing


def test_it_signs_with_every_secret_so_receivers_verify_during_rotation() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = json.dumps({"job": "nightly"})
    request = Request(
        "http://127.0.0.1/placeholder",
        "POST",
        body=body,
        webhook_id="job-1#1700000000",
        run_id="run-1",
        signing_secrets=(old, new),
    )
    with Server({"/hook": Reply(200)}) as server:
        assert execute(_at(request, server.url("/hook")), LOCAL).ok
    seen = server.seen[0]
    assert seen.headers["webhook-id"] == "job-1#1700000000"
    assert len(seen.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(seen.body, seen.headers) == {"job": "nightly"}


def test_it_uses_the_run_id_as_webhook_id_and_signs_an_empty_body() -> None:
    secret = signing.new_secret()
    request = Request("http://127.0.0.1/x", run_id="run-7", signing_secrets=(secret,))
    with Server({"/hook": Reply(200)}) as server:
        assert execute(_at(request, server.url("/hook")), LOCAL).ok
    seen = server.seen[0]
    assert seen.headers["webhook-id"] == "run-7"
    Webhook(secret).verify(b"", seen.headers, json_parse=False)


def test_it_sends_no_signature_headers_without_secrets() -> None:
    headers = {"webhook-signature": "v1,forged"}
    with Server({"/": Reply(200)}) as server:
        assert execute(Request(server.url("/"), headers=headers, webhook_id="x"), LOCAL).ok
    assert not any(name.startswith("webhook-") for name in server.seen[0].headers)


def test_it_reports_an_invalid_secret_without_quoting_it() -> None:
    secret = "whsec_not base64!"
    result = execute(Request("http://127.0.0.1/", signing_secrets=(secret,)), LOCAL)
    assert (result.status, result.reason) == (8, "signing_error")
    assert secret not in result.status_text


# ----------------------------------------------------------------------------- success rules


def test_it_fails_an_http_error_with_its_status() -> None:
    with Server({"/": Reply(500, body=b"boom")}) as server:
        result = execute(Request(server.url("/")), LOCAL)
    assert (result.status, result.reason) == (4, "http_error")
    assert result.status_text == "HTTP 500 Internal Server Error"
    assert (result.http_status, result.body) == (500, b"boom")
    assert not result.ok


def test_it_lets_success_codes_replace_the_2xx_rule() -> None:
    with Server({"/gone": Reply(404), "/fine": Reply(200)}) as server:
        codes = ((200, 299), (404, 404))
        assert execute(Request(server.url("/gone"), success_codes=codes), LOCAL).ok
        only_5xx = execute(Request(server.url("/fine"), success_codes=((500, 599),)), LOCAL)
    assert (only_5xx.status, only_5xx.status_text) == (4, "HTTP 200 OK")


def test_it_applies_success_match_and_error_match_to_the_body() -> None:
    with Server({"/": Reply(200, body=b'{"status": "up", "errors": 0}')}) as server:
        url = server.url("/")
        assert execute(Request(url, success_match=r'"status":\s*"up"'), LOCAL).ok
        missed = execute(Request(url, success_match=r'"status":\s*"down"'), LOCAL)
        matched = execute(Request(url, error_match=r'"errors":\s*[1-9]|"status": "up"'), LOCAL)
    assert (missed.status, missed.reason) == (4, "success_match_failed")
    assert (matched.status, matched.reason) == (4, "error_match")


def test_it_bounds_the_time_of_a_catastrophic_pattern() -> None:
    with Server({"/": Reply(200, body=b"x" * 5000)}) as server:
        started = time.monotonic()
        result = execute(Request(server.url("/"), success_match="(x+x+)+y"), LOCAL)
        elapsed = time.monotonic() - started
    assert (result.status, result.reason) == (8, "match_timeout")
    # Unbounded, this pattern backtracks for longer than the universe has existed; the bound
    # is loose because the figure is the executor's, not this test's (a loaded machine).
    assert elapsed < 10.0


def test_it_reports_an_invalid_pattern() -> None:
    with Server({"/": Reply(200)}) as server:
        result = execute(Request(server.url("/"), error_match="("), LOCAL)
    assert (result.status, result.reason) == (8, "invalid_pattern")


def test_it_fails_a_call_slower_than_max_duration() -> None:
    with Server({"/": Reply(200, delay=0.15)}) as server:
        result = execute(Request(server.url("/"), max_duration_ms=50), LOCAL)
    assert (result.status, result.reason) == (5, "too_slow")
    assert re.fullmatch(r"Took \d+ ms, more than maxDuration 50 ms", result.status_text)
    assert result.http_status == 200


def test_it_parses_retry_after_in_seconds_and_as_a_date() -> None:
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    routes = {
        "/busy": Reply(503, [("Retry-After", "120")]),
        "/slow-down": Reply(429, [("Retry-After", date)]),
        "/fine": Reply(200, [("Retry-After", "120")]),
    }
    with Server(routes) as server:
        busy = execute(Request(server.url("/busy"), now=clock), LOCAL)
        slow_down = execute(Request(server.url("/slow-down"), now=clock), LOCAL)
        fine = execute(Request(server.url("/fine"), now=clock), LOCAL)
    assert (busy.status, busy.retry_after) == (4, 120.0)
    assert slow_down.retry_after == 90.0
    assert fine.retry_after is None


def test_it_ignores_a_retry_after_of_digits_that_are_not_ascii() -> None:
    from chalicelib import http_rules

    # "²" is a digit to str.isdigit() but not to float(); Latin-1 headers can carry it.
    assert http_rules.retry_after(503, [("Retry-After", "\u00b2")], clock) is None


def _at(request: Request, url: str) -> Request:
    import dataclasses

    return dataclasses.replace(request, url=url)


def test_it_waits_again_when_the_clock_was_set_back_and_never_returns_early() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds - (0.5 if len(slept) == 1 else 0.0)  # the first wake is 0.5 s early

    wait_until(101.0, clock=lambda: now[0], sleep=sleep)
    assert now[0] >= 101.0
    assert slept[0] == pytest.approx(0.998)  # to just before the time, then a look at the clock
    assert sum(slept) == pytest.approx(1.5)


def test_it_does_not_wait_for_a_time_that_has_passed() -> None:
    slept: list[float] = []
    wait_until(99.0, clock=lambda: 100.0, sleep=slept.append)
    assert slept == []


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 128:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _certificate_valid_until(not_after: bytes, tag: int) -> bytes:
    """A DER certificate skeleton: version, serial, signature, issuer, then its validity."""
    validity = _der(0x30, _der(tag, b"200101000000Z") + _der(tag, not_after))
    fields = _der(0xA0, _der(0x02, b"\x02")) + _der(0x02, b"\x01") + _der(0x30, b"") * 2
    return _der(0x30, _der(0x30, fields + validity))


@pytest.mark.parametrize(
    ("not_after", "tag", "expiry"),
    [
        (b"491231235959Z", 0x17, 2_524_607_999),  # UTCTime: 49 is 2049
        (b"500101000000Z", 0x17, -631_152_000),  # and 50 is 1950
        (b"20991231235960Z", 0x18, 4_102_444_800),  # a leap second, as time.strptime reads it
        (b"20261301000000Z", 0x18, None),  # no 13th month
        (b"2026x201000000Z", 0x18, None),
    ],
)
def test_it_reads_the_certificate_expiry_from_its_der(
    not_after: bytes, tag: int, expiry: int | None
) -> None:
    assert transport._not_after(_certificate_valid_until(not_after, tag)) == expiry
