package local

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestForgetDropsTheMasterKey: after Forget the provider no longer opens
// or writes the keyring file (it holds no master key), and subject keys
// are stored and read as before.
func TestForgetDropsTheMasterKey(t *testing.T) {
	ctx := context.Background()
	p, _, _ := newProvider(t)
	tag := strings.Repeat("c", 32)
	if _, err := p.Init(ctx, []string{"ssn"}); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateSubjectKey(ctx, tag, []byte("wrapped")); err != nil {
		t.Fatal(err)
	}
	p.Forget()
	if _, err := p.Load(ctx); !errors.Is(err, ErrMasterKey) {
		t.Errorf("Load after Forget: %v, want ErrMasterKey", err)
	}
	if _, err := p.Rotate(ctx, "ssn"); !errors.Is(err, ErrMasterKey) {
		t.Errorf("Rotate after Forget: %v, want ErrMasterKey", err)
	}
	if w, err := p.GetSubjectKey(ctx, tag); err != nil || string(w) != "wrapped" {
		t.Errorf("subject key after Forget: %q, %v", w, err)
	}
}
