"""One side of a GSSAPI handshake, driven by internal/gsspeer over a pipe.

Protocol (one line each way, UTF-8, base64 fields, "-" for none):
  Go writes the configuration as one JSON line; the peer answers READY
  (or MISSING <why> when the gssapi module cannot be imported).
  Then each request is one line, each answer one line starting "@@ ":
    STEP <tok>           -> @@ OK <tok> <complete 0|1>  |  @@ ERR <tok> <json error>
    WRAP <conf 0|1> <msg> -> @@ OK <tok>
    UNWRAP <tok>          -> @@ OK <msg> <conf 0|1>
    MIC <msg>             -> @@ OK <mic>
    VERIFY <msg> <mic>    -> @@ OK -
    INFO                  -> @@ OK <json>
  Any failure answers "@@ ERR <tok or -> <json {major, minor, message}>".
Only lines starting "@@ " are answers: libraries may print other lines.

Traps this script avoids (see /work/shared/reference/peers.md):
  - python-gssapi's high-level step() defers accept errors to ctx.complete;
    the raw calls below raise at once and carry the error token.
  - gss-ntlmssp: no credential store on accept, and never ask an NTLM
    acceptor context for its target name; names end in a NUL byte.
"""

import base64
import json
import sys

try:
    import gssapi
    import gssapi.raw as graw
    from gssapi.raw import GSSError
except ImportError as exc:
    sys.stdout.write("@@ MISSING %s\n" % exc)
    sys.stdout.flush()
    sys.exit(3)

SESSION_KEY_OID = "1.2.840.113554.1.2.2.5.5"  # GSS_C_INQ_SSPI_SESSION_KEY


def b64(data):
    if data is None:
        return "-"
    return base64.b64encode(bytes(data)).decode("ascii") or "-"


def unb64(field):
    if field == "-":
        return b""
    return base64.b64decode(field)


def oid(dotted):
    return gssapi.OID.from_int_seq(dotted)


def clean_name(name):
    if name is None:
        return ""
    text = graw.display_name(name).name
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.rstrip("\x00")


def mech_str(mech):
    # SPNEGO reports an empty OID until the mechanism is chosen; printing it
    # raises, so any failure reads as "not known yet".
    if mech is None:
        return ""
    try:
        return mech.dotted_form
    except Exception:  # noqa: BLE001
        return ""


def flag_list(value):
    return [f for f in graw.RequirementFlag if int(f) & value]


def flags_int(flags):
    if flags is None:
        return 0
    return sum(int(f) for f in flags)


def send(line):
    sys.stdout.write("@@ " + line + "\n")
    sys.stdout.flush()


def send_error(exc, token=None):
    if isinstance(exc, GSSError):
        err = {
            "major": exc.maj_code,
            "minor": exc.min_code,
            "message": exc.gen_message(),
        }
        if token is None:
            token = getattr(exc, "token", None)
    else:
        err = {"major": 0, "minor": 0, "message": "%s: %s" % (type(exc).__name__, exc)}
    send("ERR %s %s" % (b64(token), json.dumps(err)))


class Peer:
    def __init__(self, cfg):
        self.cfg = cfg
        self.role = cfg["role"]
        self.mech = oid(cfg["mech"])
        # python-gssapi turns flags 0 into its default, mutual|sequence.
        self.flags = flag_list(cfg.get("flags", 0)) or None
        self.ctx = None
        self.complete = False
        self.info = {}
        self.bindings = None
        cb = cfg.get("bindings")
        if cb is not None:
            self.bindings = graw.ChannelBindings(
                initiator_address_type=cb["initiator_addr_type"],
                initiator_address=unb64(cb["initiator_address"]) or None,
                acceptor_address_type=cb["acceptor_addr_type"],
                acceptor_address=unb64(cb["acceptor_address"]) or None,
                application_data=unb64(cb["application_data"]) or None,
            )
        self.creds = self.acquire()
        self.target = None
        if self.role == "initiate":
            target = cfg.get("target") or ""
            if "@" in target and "/" not in target:
                ntype = gssapi.NameType.hostbased_service
            else:
                ntype = gssapi.NameType.kerberos_principal
            self.target = gssapi.Name(target, ntype)

    def acquire(self):
        cfg = self.cfg
        usage = "initiate" if self.role == "initiate" else "accept"
        cred_mechs = [oid(m) for m in (cfg.get("cred_mechs") or [cfg["mech"]])]
        creds = None
        if cfg.get("password"):
            name = gssapi.Name(cfg.get("username") or "", gssapi.NameType.user)
            res = graw.acquire_cred_with_password(
                name, cfg["password"].encode("utf-8"), mechs=cred_mechs, usage=usage
            )
            creds = res.creds
        elif cfg.get("acceptor_name") and usage == "accept":
            name = gssapi.Name(cfg["acceptor_name"], gssapi.NameType.kerberos_principal)
            creds = graw.acquire_cred(name, mechs=cred_mechs, usage=usage).creds
        elif cfg.get("neg_mechs") or cfg.get("cred_mechs"):
            creds = graw.acquire_cred(None, mechs=cred_mechs, usage=usage).creds
        if cfg.get("neg_mechs"):
            graw.set_neg_mechs(creds, [oid(m) for m in cfg["neg_mechs"]])
        return creds

    def step(self, token):
        if self.role == "initiate":
            res = graw.init_sec_context(
                self.target,
                creds=self.creds,
                context=self.ctx,
                mech=self.mech,
                flags=self.flags,
                channel_bindings=self.bindings,
                input_token=token or None,
            )
            self.ctx = res.context
            self.complete = not res.more_steps
            self.info["mech"] = mech_str(res.mech)
            self.info["flags"] = flags_int(res.flags)
            if self.complete:
                self.info["peer"] = self.cfg.get("target") or ""
                self.info["lifetime"] = res.lifetime
            return res.token
        res = graw.accept_sec_context(
            token, self.creds, self.ctx, self.bindings
        )
        self.ctx = res.context
        self.complete = not res.more_steps
        self.info["mech"] = mech_str(res.mech)
        self.info["flags"] = flags_int(res.flags)
        if self.complete:
            self.info["peer"] = clean_name(res.initiator_name)
            self.info["lifetime"] = res.lifetime
            self.info["delegated"] = res.delegated_creds is not None
            if res.delegated_creds is not None:
                try:
                    dname = graw.inquire_cred(res.delegated_creds, name=True).name
                    self.info["delegated_name"] = clean_name(dname)
                except GSSError:
                    pass
        return res.token

    def session_key(self):
        try:
            keys = graw.inquire_sec_context_by_oid(self.ctx, oid(SESSION_KEY_OID))
        except GSSError:
            return None
        if not keys:
            return None
        return bytes(keys[0])


def main():
    cfg = json.loads(sys.stdin.readline())
    try:
        peer = Peer(cfg)
    except Exception as exc:  # noqa: BLE001 - reported to Go
        send_error(exc)
        return
    send("READY")
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd, args = parts[0], parts[1:]
        try:
            if cmd == "STEP":
                out = peer.step(unb64(args[0]))
                send("OK %s %d" % (b64(out), 1 if peer.complete else 0))
            elif cmd == "WRAP":
                res = graw.wrap(peer.ctx, unb64(args[1]), confidential=args[0] == "1")
                send("OK %s" % b64(res.message))
            elif cmd == "UNWRAP":
                res = graw.unwrap(peer.ctx, unb64(args[0]))
                send("OK %s %d" % (b64(res.message), 1 if res.encrypted else 0))
            elif cmd == "MIC":
                send("OK %s" % b64(graw.get_mic(peer.ctx, unb64(args[0]))))
            elif cmd == "VERIFY":
                graw.verify_mic(peer.ctx, unb64(args[0]), unb64(args[1]))
                send("OK -")
            elif cmd == "INFO":
                info = dict(peer.info)
                info["complete"] = peer.complete
                if peer.complete:
                    info["session_key"] = b64(peer.session_key())
                send("OK %s" % json.dumps(info))
            elif cmd == "QUIT":
                send("OK -")
                return
            else:
                raise ValueError("unknown command " + cmd)
        except Exception as exc:  # noqa: BLE001 - reported to Go
            send_error(exc)


if __name__ == "__main__":
    main()
