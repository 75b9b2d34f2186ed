package guard

import (
	"testing"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// TestRefusedParse: a Parse carrying a refusal marker is told from one
// carrying the client's text, whatever its statement name.
func TestRefusedParse(t *testing.T) {
	m := newMarker()
	if got, ok := refusedParse(parseMessage([]byte("ins"), []byte(m))); !ok || got != m {
		t.Fatalf("marker Parse: %q %v, want %q true", got, ok, m)
	}
	if _, ok := refusedParse(parseMessage([]byte(""), []byte(m))); !ok {
		t.Fatal("marker Parse of the unnamed statement not recognised")
	}
	for _, frame := range [][]byte{
		parseMessage([]byte(markerPrefix), []byte("INSERT INTO t VALUES ($1)")), // the prefix as a name only
		parseMessage([]byte("ins"), []byte("SELECT 'phiguard_refusal_x'")),
		pgwire.Frame(pgwire.FeBind, []byte("\x00"+m+"\x00")),
		{pgwire.FeParse, 0, 0, 0, 4},
		nil,
	} {
		if got, ok := refusedParse(frame); ok {
			t.Fatalf("%q taken for a marker Parse (%q)", frame, got)
		}
	}
}
