package local

import (
	"context"
	"errors"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

func TestRetire(t *testing.T) {
	ctx := context.Background()
	p, _, _ := newProvider(t)
	if _, err := p.Init(ctx, []string{"ssn", "names"}); err != nil {
		t.Fatal(err)
	}
	kr, _ := p.Load(ctx)
	old, _ := kr.Encrypt("ssn", keys.Deterministic, col, []byte("999-12-3456"))
	if err := p.Retire(ctx, "ssn", 1); !errors.Is(err, keys.ErrWriteVersion) {
		t.Fatalf("retiring the write version: %v", err)
	}
	if _, err := p.Rotate(ctx, "ssn"); err != nil {
		t.Fatal(err)
	}
	if err := p.Retire(ctx, "ssn", 3); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("retiring a missing version: %v", err)
	}
	if err := p.Retire(ctx, "ssn", 1); err != nil {
		t.Fatal(err)
	}
	kr, err := p.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Decrypt(col, old); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("v1 cell after retire: %v", err)
	}
	if w, _ := kr.WriteVersion("ssn"); w != 2 || len(kr.Status()) != 2 {
		t.Errorf("after retire: %v", kr)
	}
}
