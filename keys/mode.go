package keys

import "fmt"

// Mode is how a column's cells are encrypted.
type Mode uint8

const (
	// Randomized is AES-256-GCM with a fresh random 96-bit nonce per cell:
	// encrypting one value twice gives two different cells, so the database
	// learns nothing but the length. Use it for every column that is not
	// searched by equality.
	Randomized Mode = 1

	// Deterministic is AES-SIV (RFC 5297, AES-CMAC-256 + AES-CTR-256):
	// one value under one key version and one column always gives the same
	// cell, so equality search, joins, GROUP BY, DISTINCT and UNIQUE
	// indexes keep working. It is NOT semantically secure: it leaks which
	// cells hold equal values (and so value frequencies) to anyone who can
	// read the table. Use it only for columns searched by equality.
	Deterministic Mode = 2
)

// String returns "randomized" or "deterministic".
func (m Mode) String() string {
	switch m {
	case Randomized:
		return "randomized"
	case Deterministic:
		return "deterministic"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode parses the policy file's spelling of a mode.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "randomized":
		return Randomized, nil
	case "deterministic":
		return Deterministic, nil
	}
	return 0, fmt.Errorf("keys: unknown mode %q (want randomized or deterministic)", s)
}

func (m Mode) valid() bool { return m == Randomized || m == Deterministic }
