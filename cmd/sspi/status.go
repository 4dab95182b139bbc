package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/asyncsspi/asyncsspi/status"
)

const statusUsage = `usage: sspi status CODE...

Names SECURITY_STATUS values and says whether each is a success, an
informational status or an error. A CODE is hex ("0x8009030C"), a signed
decimal as a C program prints an HRESULT ("-2146893044"), or a name
("SEC_E_LOGON_DENIED", in any case).

Exit status: 0 when every CODE is known, 1 when one is not (those before
it are printed), 2 when no CODE is given.
`

// runStatus prints the name and meaning class of SECURITY_STATUS values given
// in hex ("0x8009030C"), as signed decimals ("-2146893044") or by name.
//
// Its arguments are not parsed as flags: "-2146893044" is a code.
func runStatus(w io.Writer, args []string) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		_, err := io.WriteString(w, statusUsage)
		return err
	}
	if len(args) == 0 {
		return exitError{exitUsage, fmt.Errorf("status: want at least one CODE (sspi status -help)")}
	}
	for _, a := range args {
		c, err := parseCode(a)
		if err != nil {
			return exitError{1, fmt.Errorf("status: %w", err)}
		}
		kind := "success"
		if c.IsError() {
			kind = "error"
		} else if c != status.SEC_E_OK {
			kind = "informational"
		}
		fmt.Fprintf(w, "0x%08X %d %s (%s)\n", uint32(c), c.Int32(), c, kind)
	}
	return nil
}

func parseCode(s string) (status.Code, error) {
	if strings.HasPrefix(strings.ToUpper(s), "SEC_") {
		// Names are looked up by scanning the code space the package knows.
		for v := uint64(0x00090300); v <= 0x000903FF; v++ {
			if status.Code(v).String() == strings.ToUpper(s) {
				return status.Code(v), nil
			}
		}
		for v := uint64(0x80090300); v <= 0x800903FF; v++ {
			if status.Code(v).String() == strings.ToUpper(s) {
				return status.Code(v), nil
			}
		}
		if strings.EqualFold(s, "SEC_E_OK") {
			return status.SEC_E_OK, nil
		}
		return 0, fmt.Errorf("unknown status name %q", s)
	}
	if v, err := strconv.ParseInt(s, 0, 64); err == nil && v >= -1<<31 && v < 1<<32 {
		return status.Code(uint32(v)), nil
	}
	return 0, fmt.Errorf("not a status code: %q", s)
}
