"""The editors' page without a browser: its app in-process through Starlette's test client, and `digest preview`
over a real socket where the server itself is under test (request bodies, a slow feed)."""

from __future__ import annotations

import socket
import threading
import time
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

from previews import FORM, ISSUE, corrections_file, csrf_of, demo_copy, preview_client, running_preview
from servers import FeedServer, SmtpSink

from digest.config import load_config
from digest.store import issues
from digest.store.db import State
from digest.web.guard import COOKIE, Guard

SECRET = "a-long-secret-for-the-preview"


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def test_the_page_and_its_frames_in_process(tmp_path: Path) -> None:
    with preview_client(demo_copy(tmp_path)) as (client, guard, desk):
        page = client.get("/")
        assert page.status_code == 200 and csrf_of(page.text) == guard.csrf
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "same-origin"
        email = client.get("/email.html")
        assert email.headers["content-security-policy"].startswith("default-src 'none'")
        assert desk.check().html == email.text
        assert client.get("/email.txt").headers["content-type"] == "text/plain; charset=utf-8"
        assert client.get("/manifest.json").json()["issue"] == ISSUE
        assert client.get("/version", params={"after": "not-this-one"}).json() == {"version": desk.check().version}
        assert client.get("/nothing-here").status_code == 404
        assert client.put("/correct").status_code == 405
        assert client.get("/", headers={"Host": "evil.example:8025"}).status_code == 421


def test_a_body_over_64_kb_gets_413(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    with preview_client(config) as (client, guard, _):
        body = f"csrf={guard.csrf}&action=intro&intro=" + "x" * 70_000
        assert client.post("/correct", content=body, headers=FORM).status_code == 413
    assert corrections_file(config) == {}


def test_malformed_corrections_show_their_error_in_the_page(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    folder = tmp_path / "corrections"
    folder.mkdir()
    with preview_client(config) as (client, guard, _):
        for text, key in (("drop: 5\n", "drop"), ("move: [a, b]\n", "move"), ("rewrite: {a: 1}\n", "rewrite")):
            (folder / f"{ISSUE}.yaml").write_text(text)
            page = client.get("/")
            assert page.status_code == 200, text
            assert f"&#39;{key}&#39; should be" in page.text and f"{ISSUE}.yaml" in page.text
            assert 'id="desktop"' in page.text  # the page is all there, with the last good email
            done = client.post("/correct", data={"csrf": guard.csrf, "action": "intro", "intro": "Hello"})
            assert done.status_code == 303
            assert f"error: {folder / ISSUE}.yaml: &#39;{key}&#39; should be" in client.get("/").text
            assert (folder / f"{ISSUE}.yaml").read_text() == text  # nothing written over the editor's file


def test_no_correction_reaches_an_issue_being_sent(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    with preview_client(config) as (client, guard, desk):
        built = desk.built
        assert built is not None
        with State(load_config(config).state_path) as state:
            issues.freeze(state, ISSUE, built.issue.window, built.rendered, built.record(), status="sending")
        refused = client.post("/correct", data={"csrf": guard.csrf, "action": "intro", "intro": "Too late"})
        assert refused.status_code == 409
        assert refused.text == f"issue {ISSUE} is being sent, so a change would reach no reader; nothing was changed\n"
        assert client.post("/approve", data={"csrf": guard.csrf}).status_code == 409
        assert corrections_file(config) == {}
        assert "is being sent" in client.get("/").text
        with State(load_config(config).state_path) as state:
            issues.set_status(state, ISSUE, "sent")
        refused = client.post("/correct", data={"csrf": guard.csrf, "action": "unpin"})
        assert refused.status_code == 409 and "was already sent" in refused.text


def test_the_remote_session_cookie_is_secure_and_rotates(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    with preview_client(demo_copy(tmp_path), secret=SECRET, clock=lambda: now[0]) as (client, _, _):
        first = client.get(f"/?token={SECRET}")
        again = client.get(f"/?token={SECRET}")
        for login in (first, again):
            assert login.status_code == 303
            flags = [f.strip() for f in login.headers["set-cookie"].split(";")]
            assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} <= set(flags)
        client.cookies.clear()  # a cookie goes only where the test sends it
        cookie = first.headers["set-cookie"].split(";", 1)[0]
        assert cookie != again.headers["set-cookie"].split(";", 1)[0]  # each login, a new session
        assert cookie.startswith(f"{COOKIE}=") and SECRET not in cookie

        fresh = client.get("/", headers={"Cookie": cookie})
        assert fresh.status_code == 200 and "set-cookie" not in fresh.headers
        now[0] += 2 * 3600  # an hour on, each answer brings a fresh cookie
        renewed = client.get("/email.txt", headers={"Cookie": cookie})
        assert renewed.status_code == 200
        newer = renewed.headers["set-cookie"].split(";", 1)[0]
        client.cookies.clear()
        assert newer != cookie and "Secure" in renewed.headers["set-cookie"]
        now[0] += 11 * 3600  # twelve hours on, the old one is refused, the renewed one still works
        assert client.get("/", headers={"Cookie": cookie}).status_code == 401
        assert client.get("/", headers={"Cookie": newer}).status_code == 200
        forged = cookie.rsplit(".", 1)[0] + "." + "0" * 64
        assert client.get("/", headers={"Cookie": forged}).status_code == 401
        assert client.get("/", headers={"Cookie": f"{COOKIE}=é; x=\x7f".encode("latin-1")}).status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200


def get(base: str, path: str) -> HTTPResponse:
    connection = HTTPConnection("127.0.0.1", port_of(base), timeout=10)
    connection.request("GET", path)
    return connection.getresponse()


def raw(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send a request and keep the connection open (no EOF) until the server answers and closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_a_session_dated_with_digits_int_refuses_is_no_session() -> None:
    guard = Guard(host="0.0.0.0", port=8025, secret=SECRET, clock=lambda: 1_767_225_600.0)
    good = guard.new_session()
    assert guard.session_age(good) == 0.0
    for odd in ("²", "\u0663" * 10, "1767225600\u00b2"):  # each passes str.isdigit()
        assert guard.session_age(odd + "." + good.split(".", 1)[1]) is None


def test_a_negative_or_non_numeric_content_length_gets_400(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    with running_preview("--config", str(config)) as base:
        token = csrf_of(get(base, "/").read().decode())
        for length in (b"-1", b"abc", b"+5"):
            body = f"csrf={token}&action=intro&intro=hello".encode()
            request = (
                b"POST /correct HTTP/1.1\r\nHost: 127.0.0.1:" + str(port_of(base)).encode() + b"\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + length + b"\r\n\r\n" + body
            )
            assert raw(port_of(base), request).startswith(b"HTTP/1.1 400 "), length
    assert corrections_file(config) == {}


def test_gathering_again_from_a_slow_feed_does_not_hold_up_the_page(tmp_path: Path, feed_server: FeedServer) -> None:
    feed = feed_server.serve_file("/feed.xml", Path(__file__).parent.parent / "digest/demo/leftvoice-sample.xml")
    config = demo_copy(tmp_path, feeds=[{"name": "Left Voice", "url": feed}], gather={"timeout": 20})
    with running_preview("--config", str(config)) as base:
        token = csrf_of(get(base, "/").read().decode())
        feed_server.routes["/feed.xml"].delay = 4.0
        answers: list[int] = []

        def gather_again() -> None:
            connection = HTTPConnection("127.0.0.1", port_of(base), timeout=30)
            connection.request("POST", "/refresh", body=f"csrf={token}", headers=FORM)
            answers.append(connection.getresponse().status)

        gathering = threading.Thread(target=gather_again)
        gathering.start()
        time.sleep(0.5)
        for path in ("/", "/email.html", "/version"):
            started = time.monotonic()
            assert get(base, path).status == 200
            assert time.monotonic() - started < 1.0, path
        assert gathering.is_alive()  # the slow feed is still being read
        gathering.join(timeout=30)
        assert answers == [303]
    assert len(feed_server.requests_for("/feed.xml")) == 2


def test_the_page_refuses_a_test_address_that_send_test_to_refuses(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    config = demo_copy(tmp_path, smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none"})
    with preview_client(config) as (client, guard, _):
        for address in (
            "someone@example",
            "some one@example.org",
            "a@b@example.org",
            "desk@example.org\r\nBcc: x@y.org",
        ):
            client.post("/test-send", data={"csrf": guard.csrf, "address": address})
            assert "error: " in client.get("/").text, address
        assert smtp_sink.handler.messages == []
        client.post("/test-send", data={"csrf": guard.csrf, "address": "desk@example.org"})
    assert [rcpts for _, rcpts, _ in smtp_sink.handler.messages] == [["desk@example.org"]]
