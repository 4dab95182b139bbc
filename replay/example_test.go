package replay_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asyncsspi/asyncsspi/replay"
)

// An acceptor records each authenticator it accepts; the same one again is
// a replay, whichever credential of the service sees it.
func ExampleMemory() {
	cache := replay.NewMemory()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tag := []byte("integrity tag of the authenticator's ciphertext")
	e := replay.Entry{
		Key:    replay.MakeKey("HTTP/www.example.org@EXAMPLE.ORG", tag),
		Time:   now,
		Expiry: now.Add(5 * time.Minute),
	}
	fmt.Println(cache.Insert(context.Background(), e, now))
	err := cache.Insert(context.Background(), e, now.Add(time.Second))
	fmt.Println(errors.Is(err, replay.ErrReplay))
	// Output:
	// <nil>
	// true
}
