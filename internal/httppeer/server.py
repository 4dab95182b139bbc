"""An HTTP server that authenticates with MIT GSSAPI, for internal/httppeer.

It answers "WWW-Authenticate: Negotiate" and accepts with MIT's SPNEGO
(Kerberos from the keytab of KRB5_KTNAME, NTLM through gss-ntlmssp with
NTLM_USER_FILE), as Apache's mod_auth_gssapi does: one GSSAPI context per
connection while a handshake is in progress, the server's final token in
"WWW-Authenticate: Negotiate <token>" on the 200 (so that the client can
verify it: mutual authentication), and the authenticated name in the
body. A connection NTLM authenticated stays authenticated (NTLM
authenticates the connection); Kerberos authenticates each request.

Protocol with Go (stdin/stdout, one line each):
  Go writes the configuration as one JSON line:
    {"persist_ntlm": bool, "final": "send"|"omit",
     "cert": PEM path or "", "key": PEM path or ""}
  The server answers "@@ LISTEN <port>" once it listens on 127.0.0.1, or
  "@@ MISSING <why>" when the gssapi module cannot be imported, or
  "@@ ERR <why>". Then one "@@ REQ <json>" line per request it answered.
With a certificate it serves HTTPS and gives the acceptor
tls-server-end-point channel bindings (RFC 5929) computed here from the
certificate, independently of the Go code under test.

Traps avoided (see /work/shared/reference/peers.md): no credential store
is passed when accepting (gss-ntlmssp), the target name of an NTLM
acceptor context is never read, and names lose their trailing NUL.
"""

import base64
import hashlib
import itertools
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import gssapi
    import gssapi.raw as graw
    from gssapi.raw import GSSError
except ImportError as exc:
    sys.stdout.write("@@ MISSING %s\n" % exc)
    sys.stdout.flush()
    sys.exit(3)

NTLMSSP = "1.3.6.1.4.1.311.2.2.10"
CONFIG = {}
BINDINGS = None
CONN_IDS = itertools.count(1)
OUT = threading.Lock()


def emit(line):
    with OUT:
        sys.stdout.write("@@ " + line + "\n")
        sys.stdout.flush()


def clean_name(name):
    if name is None:
        return ""
    text = graw.display_name(name).name
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.rstrip("\x00")


def mech_str(mech):
    if mech is None:
        return ""
    try:
        return mech.dotted_form
    except Exception:  # noqa: BLE001 - SPNEGO's empty OID before a choice
        return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "httppeer"

    def setup(self):
        super().setup()
        self.conn_id = next(CONN_IDS)
        self.ctx = None
        self.authed = None  # (name, mech) of an NTLM-authenticated connection
        self.nreq = 0

    def log_message(self, fmt, *args):
        sys.stderr.write("httppeer: " + (fmt % args) + "\n")

    def do_GET(self):
        self.serve()

    do_POST = do_PUT = do_DELETE = do_GET

    def serve(self):
        self.nreq += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        auth = self.headers.get("Authorization", "")
        scheme, _, tok = auth.partition(" ")
        log = {"conn": self.conn_id, "request": self.nreq, "path": self.path,
               "scheme": scheme, "body_len": len(body)}
        if not auth:
            if self.authed is not None:
                return self.ok(log, self.authed[0], self.authed[1], body, None, True)
            return self.challenge(log, None, "no credentials")
        if scheme.lower() != "negotiate" or not tok.strip():
            return self.challenge(log, None, "not a Negotiate token")
        try:
            token = base64.b64decode(tok.strip(), validate=True)
        except ValueError:
            return self.challenge(log, None, "token is not base64")
        try:
            res = graw.accept_sec_context(token, None, self.ctx, BINDINGS)
        except GSSError as exc:
            self.ctx = None
            self.authed = None
            return self.challenge(log, getattr(exc, "token", None), exc.gen_message())
        if res.more_steps:
            self.ctx = res.context
            return self.challenge(log, res.token, None)
        self.ctx = None
        name, mech = clean_name(res.initiator_name), mech_str(res.mech)
        self.authed = (name, mech) if CONFIG.get("persist_ntlm") and mech == NTLMSSP else None
        final = res.token if CONFIG.get("final", "send") == "send" else None
        return self.ok(log, name, mech, body, final, False)

    def challenge(self, log, token, err):
        value = "Negotiate"
        if token:
            value += " " + base64.b64encode(bytes(token)).decode("ascii")
        payload = b"authenticate, please\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", value)
        if err:
            self.send_header("X-Auth-Error", err.replace("\n", " ")[:500])
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        log.update(status=401, error=err or "", token=bool(token))
        emit("REQ " + json.dumps(log))

    def ok(self, log, name, mech, body, final, reused):
        reply = {"user": name, "mech": mech, "conn": self.conn_id, "request": self.nreq,
                 "method": self.command, "path": self.path, "body_len": len(body),
                 "body_sha256": hashlib.sha256(body).hexdigest(), "reused": reused}
        payload = (json.dumps(reply) + "\n").encode("utf-8")
        self.send_response(200)
        if final:
            self.send_header("WWW-Authenticate", "Negotiate " + base64.b64encode(bytes(final)).decode("ascii"))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        log.update(status=200, user=name, mech=mech, token=bool(final), reused=reused)
        emit("REQ " + json.dumps(log))


def main():
    global BINDINGS
    CONFIG.update(json.loads(sys.stdin.readline()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if CONFIG.get("cert"):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(CONFIG["cert"], CONFIG["key"])
        tls.set_alpn_protocols(["http/1.1"])
        with open(CONFIG["cert"]) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        # RFC 5929 section 4.1: the certificate's signature hash, SHA-256
        # for MD5 and SHA-1; the certificates the tests make are signed
        # with SHA-256.
        BINDINGS = graw.ChannelBindings(
            application_data=b"tls-server-end-point:" + hashlib.sha256(der).digest())
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    emit("LISTEN %d" % server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - reported to Go
        emit("ERR %s: %s" % (type(exc).__name__, exc))
        sys.exit(1)
