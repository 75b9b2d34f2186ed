// Package pgwiretest builds protocol messages for the wire's and the
// guard's tests.
package pgwiretest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Encode is msgs as they go over the wire, one after another.
func Encode(t testing.TB, msgs ...pgproto3.Message) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = m.Encode(out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// EncodeBody is m without its 5-byte header (type and length).
func EncodeBody(t testing.TB, m pgproto3.Message) []byte {
	t.Helper()
	return Encode(t, m)[5:]
}
