package mechs_test

import (
	"fmt"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

func ExampleSet_Lookup() {
	// An engine only ever uses the packages its Set lists.
	set := mechs.NewSet(namedPackage("NTLM"))
	_, err := set.Lookup("Kerberos")
	fmt.Println(status.CodeOf(err))
	p, _ := set.Lookup("ntlm")
	fmt.Println(p.Name())
	// Output:
	// SEC_E_SECPKG_NOT_FOUND
	// NTLM
}
