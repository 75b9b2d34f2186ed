package vault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

var col = keys.Column{Schema: "public", Table: "patients", Name: "ssn"}

func TestInitLoadRotateStatus(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			p := tg.provider(t)
			if kr, err := p.Load(ctx); err != nil || len(kr.Status()) != 0 {
				t.Fatalf("Load of nothing: %v, %v", kr, err)
			}
			created, err := p.Init(ctx, []string{"ssn", "names"})
			if err != nil || len(created) != 2 {
				t.Fatalf("Init = %v, %v", created, err)
			}
			if created, err := p.Init(ctx, []string{"ssn", "passport"}); err != nil || len(created) != 1 || created[0] != "passport" {
				t.Fatalf("second Init = %v, %v", created, err)
			}
			kr, err := p.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cell, _ := kr.Encrypt("ssn", keys.Deterministic, col, []byte("999-12-3456"))

			v, err := p.Rotate(ctx, "ssn")
			if err != nil || v != 2 {
				t.Fatalf("Rotate = %d, %v", v, err)
			}
			if _, err := p.Rotate(ctx, "missing"); !errors.Is(err, keys.ErrUnknownKey) {
				t.Errorf("Rotate missing: %v", err)
			}

			// A fresh provider (another instance) sees the same keys.
			other := tg.provider(t)
			kr2, err := other.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := kr2.Decrypt(col, cell); err != nil || string(pt) != "999-12-3456" {
				t.Errorf("v1 cell on another instance: %q, %v", pt, err)
			}
			if w, _ := kr2.WriteVersion("ssn"); w != 2 {
				t.Errorf("write version %d", w)
			}
			st, err := other.Status(ctx)
			if err != nil || fmt.Sprint(st) == "" || len(st) != 3 {
				t.Fatalf("Status = %v, %v", st, err)
			}
			for _, s := range st {
				if s.ID == "ssn" && (s.WriteVersion != 2 || len(s.Versions) != 2) {
					t.Errorf("ssn status %+v", s)
				}
			}
		})
	}
}

// TestRequestsGrowWithKeysNotRows: Load costs 1 list + 1 read per id + 1
// unwrap per version; encrypting and decrypting any number of cells costs
// nothing; a reload after a rotation unwraps only the new version.
func TestRequestsGrowWithKeysNotRows(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			admin := tg.provider(t)
			ids := []string{"k1", "k2", "k3", "k4"}
			if _, err := admin.Init(ctx, ids); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.Rotate(ctx, "k1"); err != nil {
				t.Fatal(err)
			}
			before := tg.requests(t)["total"]

			p := tg.provider(t) // a proxy instance: empty cache
			kr, err := p.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			afterLoad := tg.requests(t)
			if got, want := afterLoad["total"]-before, float64(1+len(ids)+len(ids)+1); got != want {
				t.Errorf("Load made %v requests, want %v (1 list, %d reads, %d unwraps)", got, want, len(ids), len(ids)+1)
			}
			for i := 0; i < 5000; i++ {
				id := ids[i%len(ids)]
				c, err := kr.Encrypt(id, keys.Randomized, col, []byte(fmt.Sprint("row", i)))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := kr.Decrypt(col, c); err != nil {
					t.Fatal(err)
				}
			}
			if got := tg.requests(t)["total"]; got != afterLoad["total"] {
				t.Errorf("10000 cell operations made %v Vault requests", got-afterLoad["total"])
			}
			if tg.emu != nil && tg.emu.Requests()["transit/decrypt"] != len(ids)+1 {
				t.Errorf("emulator saw %d unwraps", tg.emu.Requests()["transit/decrypt"])
			}

			if _, err := admin.Rotate(ctx, "k2"); err != nil {
				t.Fatal(err)
			}
			mark := tg.requests(t)
			if _, err := p.Load(ctx); err != nil {
				t.Fatal(err)
			}
			end := tg.requests(t)
			if got := end["transit_decrypt"] - mark["transit_decrypt"]; got != 1 {
				t.Errorf("reload after one rotation unwrapped %v keys, want 1", got)
			}
		})
	}
}

func TestConcurrentRotationConflicts(t *testing.T) {
	tg := newEmulator(t)
	ctx := context.Background()
	p := tg.provider(t)
	if _, err := p.Init(ctx, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	rec, cas, err := p.readRecord(ctx, "k")
	p.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.provider(t).Rotate(ctx, "k"); err != nil { // the other writer wins
		t.Fatal(err)
	}
	p.mu.Lock()
	err = p.addVersion(ctx, "k", rec, cas)
	p.mu.Unlock()
	if !errors.Is(err, keys.ErrConflict) {
		t.Fatalf("stale rotate: %v", err)
	}
	st, _ := p.Status(ctx)
	if len(st) != 1 || st[0].WriteVersion != 2 {
		t.Errorf("after conflict: %+v", st)
	}
}
