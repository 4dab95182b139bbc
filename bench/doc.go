// Package bench holds the project's go test -bench suites, one file per
// area (engine, NTLM, Kerberos, Negotiate), each with its baselines side by
// side. Run them with
//
//	go test -run '^$' -bench . -benchmem ./bench/
package bench
