package mitrealm

// Hooks for the external tests in mitrealm_test, which import
// internal/peertest (itself an importer of this package).

// SocketsOnPort is socketsOnPort.
func SocketsOnPort(port int) int { return socketsOnPort(port) }

// KDCPid is the process id of r's krb5kdc.
func KDCPid(r *Realm) int { return r.kdc.cmd.Process.Pid }
