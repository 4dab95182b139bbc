# MIT GSSAPI SPNEGO peer for the negotiate package's interop tests, driven
# through python3-gssapi. One command a line on stdin, one answer a line on
# stdout (tokens in base64, "-" for none):
#   STEP <tok>          -> OK <complete 0|1> <tok>      | ERR <message>
#   MECH                -> OK <dotted OID of the negotiated mechanism>
#   WRAP <msg>          -> OK <wrapped>       UNWRAP <tok> -> OK <msg>
#   MIC <msg>           -> OK <mic>           VERIFY <msg> <mic> -> OK
# argv: initiate|accept [target user password]
import base64, os, sys, gssapi

SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")

def b64(b):
    return base64.b64encode(b).decode() if b else "-"

def unb64(s):
    return b"" if s == "-" else base64.b64decode(s)

role = sys.argv[1]
if role == "initiate":
    target = gssapi.Name(sys.argv[2], gssapi.NameType.hostbased_service)
    creds = None
    if len(sys.argv) > 4:
        name = gssapi.Name(sys.argv[3], gssapi.NameType.user)
        creds = gssapi.raw.acquire_cred_with_password(
            name, sys.argv[4].encode(), usage="initiate", mechs=[SPNEGO]).creds
    flags = (gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality |
             gssapi.RequirementFlag.mutual_authentication)
    # MITPEER_MECH makes a raw-mechanism client (e.g. krb5 without SPNEGO).
    mech = gssapi.OID.from_int_seq(os.environ["MITPEER_MECH"]) if os.environ.get("MITPEER_MECH") else SPNEGO
    ctx = gssapi.SecurityContext(name=target, creds=creds, usage="initiate", mech=mech, flags=flags)
else:
    ctx = gssapi.SecurityContext(usage="accept")

print("READY", flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    try:
        cmd = parts[0]
        if cmd == "STEP":
            tok = unb64(parts[1])
            out = ctx.step(tok if (tok or role == "accept") else None)
            print("OK", 1 if ctx.complete else 0, b64(out), flush=True)
        elif cmd == "MECH":
            print("OK", ctx.mech.dotted_form, flush=True)
        elif cmd == "WRAP":
            print("OK", b64(ctx.wrap(unb64(parts[1]), True).message), flush=True)
        elif cmd == "UNWRAP":
            print("OK", b64(ctx.unwrap(unb64(parts[1])).message), flush=True)
        elif cmd == "MIC":
            print("OK", b64(ctx.get_signature(unb64(parts[1]))), flush=True)
        elif cmd == "VERIFY":
            ctx.verify_signature(unb64(parts[1]), unb64(parts[2]))
            print("OK", flush=True)
        else:
            print("ERR unknown command", flush=True)
    except Exception as e:
        print("ERR", str(e).replace("\n", " "), flush=True)
