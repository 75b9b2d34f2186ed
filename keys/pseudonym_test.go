package keys

import (
	"strings"
	"testing"
	"time"
)

func TestPseudonymTokens(t *testing.T) {
	a, _ := GenerateDataKey("pseudonym", 1, time.Now())
	b, _ := GenerateDataKey("research", 1, time.Now())
	kr, err := NewKeyring([]DataKey{a, b})
	if err != nil {
		t.Fatal(err)
	}
	pa, err := kr.Pseudonymizer("pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	pa2, _ := NewPseudonymizer(a)
	pb, _ := kr.Pseudonymizer("research")
	v := []byte("123-45-6789")
	tok := pa.Token(v)
	if !strings.HasPrefix(tok, PseudonymPrefix) || len(tok) != len(PseudonymPrefix)+32 {
		t.Fatalf("token %q", tok)
	}
	if pa2.Token(v) != tok {
		t.Error("the same key gave two tokens for one value")
	}
	if pb.Token(v) == tok || pa.Token([]byte("123-45-6780")) == tok {
		t.Error("another key or another value gave the same token")
	}
	if strings.Contains(tok, "6789") {
		t.Error("the token shows the value")
	}
	if _, err := kr.Pseudonymizer("nope"); err == nil {
		t.Error("an unknown key id gave a pseudonymizer")
	}
}
