#!/usr/bin/python3
"""One side of an NTLM handshake through MIT GSSAPI and gss-ntlmssp, driven
over stdin/stdout by the Go tests (mechs/ntlm interop_test.go).

Usage: gssntlm_peer.py initiate USER DOMAIN PASSWORD TARGET
       gssntlm_peer.py accept            (users from $NTLM_USER_FILE)
Channel bindings: $PEER_CB, the application data in hex.

Lines in (base64 payloads):  STEP <tok> | WRAP <msg> | UNWRAP <tok>
                             | MIC <msg> | VERIFY <msg> <sig> | QUIT
Lines out: TOKEN <tok or -> COMPLETE|CONTINUE | DATA <b64> | OK
           | ERROR <text>
"""
import base64
import os
import sys

import gssapi
import gssapi.raw as raw

NTLMSSP = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")


def b64(b):
    return base64.b64encode(b or b"").decode() if b else "-"


def unb64(s):
    return b"" if s == "-" else base64.b64decode(s)


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    role = sys.argv[1]
    # PEER_CB: channel bindings application data (hex), as RFC 5929 gives it.
    cb = None
    if os.environ.get("PEER_CB"):
        cb = gssapi.raw.ChannelBindings(application_data=bytes.fromhex(os.environ["PEER_CB"]))
    if role == "initiate":
        user, domain, password, target = sys.argv[2:6]
        name = gssapi.Name(domain + "\\" + user if domain else user, gssapi.NameType.user)
        cred = raw.acquire_cred_with_password(name, password.encode(), usage="initiate", mechs=[NTLMSSP]).creds
        flags = (gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality |
                 gssapi.RequirementFlag.replay_detection | gssapi.RequirementFlag.out_of_sequence_detection)
        ctx = gssapi.SecurityContext(name=gssapi.Name(target, gssapi.NameType.hostbased_service),
                                     creds=cred, usage="initiate", mech=NTLMSSP, flags=flags,
                                     channel_bindings=cb)
    else:
        # No credential store on accept: gss-ntlmssp 1.2.0 mishandles it.
        ctx = gssapi.SecurityContext(usage="accept", channel_bindings=cb)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        try:
            if cmd == "STEP":
                tok = ctx.step(unb64(parts[1]) if len(parts) > 1 else None)
                done = ctx.complete
                out("TOKEN %s %s" % (b64(tok), "COMPLETE" if done else "CONTINUE"))
            elif cmd == "WRAP":
                out("DATA " + b64(ctx.wrap(unb64(parts[1]), True).message))
            elif cmd == "UNWRAP":
                res = ctx.unwrap(unb64(parts[1]))
                out("DATA " + b64(res.message))
            elif cmd == "MIC":
                out("DATA " + b64(ctx.get_signature(unb64(parts[1]))))
            elif cmd == "VERIFY":
                ctx.verify_signature(unb64(parts[1]), unb64(parts[2]))
                out("OK")
            elif cmd == "NAME":
                out("DATA " + b64(str(ctx.initiator_name).encode()))
            elif cmd == "QUIT":
                return
            else:
                out("ERROR unknown command")
        except Exception as e:  # report every GSSAPI failure to the test
            out("ERROR " + " ".join(str(e).split()))


if __name__ == "__main__":
    main()
