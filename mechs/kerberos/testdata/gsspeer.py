# A line-oriented MIT GSSAPI peer for the interop tests (python3-gssapi).
# usage: gsspeer.py initiate TARGET FLAGS [BINDINGS_HEX] | accept [BINDINGS_HEX]
# FLAGS: a string of letters: m (mutual), d (delegate), r (replay), s (sequence).
# Commands on stdin, one per line; one answer line each:
#   STEP <b64|->            -> TOKEN <b64|-> <complete 0|1>
#   WRAP <b64> <conf 0|1>   -> TOKEN <b64>
#   UNWRAP <b64>            -> DATA <b64> <encrypted 0|1>
#   MIC <b64>               -> TOKEN <b64>
#   VERIFY <b64> <b64 mic>  -> OK
#   NAMES                   -> NAMES <initiator> <target>
# Failures answer "ERR <message>".
import base64
import sys

import gssapi
from gssapi.raw import ChannelBindings

KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")


def b64(b):
    return base64.b64encode(b).decode() if b else "-"


def unb64(s):
    return b"" if s == "-" else base64.b64decode(s)


def main():
    role = sys.argv[1]
    cb = None
    if role == "initiate":
        target, letters = sys.argv[2], sys.argv[3]
        if len(sys.argv) > 4:
            cb = ChannelBindings(application_data=bytes.fromhex(sys.argv[4]))
        flags = gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality
        for c, f in (("m", gssapi.RequirementFlag.mutual_authentication),
                     ("d", gssapi.RequirementFlag.delegate_to_peer),
                     ("r", gssapi.RequirementFlag.replay_detection),
                     ("s", gssapi.RequirementFlag.out_of_sequence_detection)):
            if c in letters:
                flags |= f
        name = gssapi.Name(target, gssapi.NameType.hostbased_service if "@" in target and "/" not in target
                           else gssapi.NameType.kerberos_principal)
        ctx = gssapi.SecurityContext(name=name, mech=KRB5, usage="initiate", flags=flags, channel_bindings=cb)
    else:
        if len(sys.argv) > 2:
            cb = ChannelBindings(application_data=bytes.fromhex(sys.argv[2]))
        ctx = gssapi.SecurityContext(usage="accept", channel_bindings=cb)
    print("READY", flush=True)
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        try:
            if f[0] == "STEP":
                out = ctx.step(unb64(f[1]) if role == "accept" or f[1] != "-" else None)
                print("TOKEN", b64(out), 1 if ctx.complete else 0, flush=True)
            elif f[0] == "WRAP":
                w = ctx.wrap(unb64(f[1]), f[2] == "1")
                print("TOKEN", b64(w.message), flush=True)
            elif f[0] == "UNWRAP":
                u = ctx.unwrap(unb64(f[1]))
                print("DATA", b64(u.message) if u.message else "-", 1 if u.encrypted else 0, flush=True)
            elif f[0] == "MIC":
                print("TOKEN", b64(ctx.get_signature(unb64(f[1]))), flush=True)
            elif f[0] == "VERIFY":
                ctx.verify_signature(unb64(f[1]), unb64(f[2]))
                print("OK", flush=True)
            elif f[0] == "NAMES":
                print("NAMES", str(ctx.initiator_name), str(ctx.target_name), flush=True)
            else:
                print("ERR unknown command", flush=True)
        except Exception as e:  # report, keep serving
            print("ERR", str(e).replace("\n", " "), flush=True)


main()
