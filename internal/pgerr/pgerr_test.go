package pgerr

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func TestEncodeIsAnErrorResponse(t *testing.T) {
	for _, e := range []*Error{
		Newf(InsufficientPrivilege, "permission denied for column %s", "public.patients.ssn"),
		Fatal(ProtocolViolation, "invalid frontend message type 122"),
	} {
		b := e.Encode()
		if b[0] != 'E' {
			t.Fatalf("message type %q", b[0])
		}
		var got pgproto3.ErrorResponse
		if err := got.Decode(b[5:]); err != nil {
			t.Fatal(err)
		}
		if got.Code != string(e.Code) || got.Message != e.Message || got.Severity != e.Severity || got.SeverityUnlocalized != e.Severity {
			t.Errorf("decoded %+v, want %+v", got, e)
		}
	}
}

func TestClass(t *testing.T) {
	if InsufficientPrivilege.Class() != "42" || Code("").Class() != "??" {
		t.Errorf("classes: %q %q", InsufficientPrivilege.Class(), Code("").Class())
	}
}

// TestMessageIsNotAFormat: New takes a message as it is, so a message
// holding '%' (a LIKE pattern, a mask) is not mangled.
func TestMessageIsNotAFormat(t *testing.T) {
	if e := New(FeatureNotSupported, "LIKE '100%' on an encrypted column"); e.Message != "LIKE '100%' on an encrypted column" {
		t.Errorf("message %q", e.Message)
	}
}
