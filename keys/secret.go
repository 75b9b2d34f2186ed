package keys

import (
	"crypto/subtle"
	"fmt"
)

// redacted is what every printing or marshaling path of a Secret writes.
const redacted = "REDACTED"

// Secret holds key material. It never prints its bytes: String, GoString,
// Format (every fmt verb), MarshalJSON and MarshalText all write REDACTED,
// so a Secret passed to fmt, encoding/json or zap (zap.Any and zap.Stringer
// use String, zap.Reflect uses MarshalJSON) cannot leak. The bytes are
// reachable only through a closure, which fmt prints as an address: even a
// struct that holds a Secret in an unexported field (where fmt does not
// call its methods) shows no key bytes under any verb.
//
// The zero Secret is empty. Secrets are immutable: NewSecret copies its
// input and Expose returns a copy.
type Secret struct {
	get func() []byte // returns the backing slice; never modify it
}

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret {
	c := make([]byte, len(b))
	copy(c, b)
	return Secret{get: func() []byte { return c }}
}

// Expose returns a copy of the secret bytes. Only code that seals, wraps or
// keys a cipher with the secret should call it; never log the result.
func (s Secret) Expose() []byte {
	b := s.bytes()
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// Len is the number of secret bytes.
func (s Secret) Len() int {
	return len(s.bytes())
}

// Equal reports whether s and o hold the same bytes, in time that depends
// only on their lengths.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare(s.bytes(), o.bytes()) == 1
}

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%x, %s, %d, %#v ...)
// reaches the bytes.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

func (s Secret) bytes() []byte {
	if s.get == nil {
		return nil
	}
	return s.get()
}
