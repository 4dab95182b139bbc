//go:build tools

package deps

import (
	_ "github.com/Azure/go-ntlmssp"
	_ "github.com/jcmturner/gokrb5/v8/client"
	_ "github.com/jcmturner/gokrb5/v8/service"
	_ "github.com/jcmturner/gokrb5/v8/spnego"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sync/singleflight"
)
