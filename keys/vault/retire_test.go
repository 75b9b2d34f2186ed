package vault

import (
	"context"
	"errors"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

func TestRetire(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			p := tg.provider(t)
			if _, err := p.Init(ctx, []string{"ssn"}); err != nil {
				t.Fatal(err)
			}
			if err := p.Retire(ctx, "ssn", 1); !errors.Is(err, keys.ErrWriteVersion) {
				t.Fatalf("retiring the only version: %v", err)
			}
			kr, _ := p.Load(ctx)
			old, _ := kr.Encrypt("ssn", keys.Deterministic, col, []byte("999-12-3456"))
			if _, err := p.Rotate(ctx, "ssn"); err != nil {
				t.Fatal(err)
			}
			if err := p.Retire(ctx, "ssn", 7); !errors.Is(err, keys.ErrUnknownKey) {
				t.Errorf("retiring a missing version: %v", err)
			}
			if err := p.Retire(ctx, "missing", 1); !errors.Is(err, keys.ErrUnknownKey) {
				t.Errorf("retiring a missing key: %v", err)
			}
			if err := p.Retire(ctx, "ssn", 1); err != nil {
				t.Fatal(err)
			}
			// Another instance no longer has version 1.
			kr2, err := tg.provider(t).Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kr2.Decrypt(col, old); !errors.Is(err, keys.ErrUnknownKey) {
				t.Errorf("v1 cell after retire: %v", err)
			}
			st := kr2.Status()
			if len(st) != 1 || st[0].WriteVersion != 2 || len(st[0].Versions) != 1 {
				t.Errorf("status after retire: %+v", st)
			}
		})
	}
}
