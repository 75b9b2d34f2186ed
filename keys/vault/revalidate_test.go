package vault

import (
	"context"
	"errors"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

// TestRevalidate: Revalidate unwraps every version afresh (the requests
// say so), returns the same keys while nothing changed, sees a rotation
// and a removed record, and reads a revoked token as a definite refusal
// after which no unwrapped key stays in the provider.
func TestRevalidate(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			admin := tg.provider(t)
			if _, err := admin.Init(ctx, []string{"ssn", "names"}); err != nil {
				t.Fatal(err)
			}
			p := tg.withToken(t, "proxy-token")
			loaded, err := p.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			before := tg.requests(t)["transit_decrypt"]
			again, err := p.Revalidate(ctx)
			if err != nil || !loaded.SameKeys(again) {
				t.Fatalf("Revalidate with nothing changed: same keys %v, %v", loaded.SameKeys(again), err)
			}
			if n := tg.requests(t)["transit_decrypt"] - before; n != 2 {
				t.Errorf("Revalidate made %v transit decrypts, want 2 (one per version, none from the cache)", n)
			}

			if _, err := admin.Rotate(ctx, "ssn"); err != nil {
				t.Fatal(err)
			}
			rotated, err := p.Revalidate(ctx)
			if err != nil || rotated.SameKeys(again) {
				t.Fatalf("Revalidate after a rotation: same keys %v, %v", rotated.SameKeys(again), err)
			}
			if v, _ := rotated.WriteVersion("ssn"); v != 2 {
				t.Fatalf("write version after rotation %d", v)
			}

			tg.deleteRecord(t, admin, "names")
			gone, err := p.Revalidate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := gone.WriteVersion("names"); !errors.Is(err, keys.ErrUnknownKey) {
				t.Fatalf("a removed record is still in the keyring: %v", err)
			}

			tg.revoke(t, "proxy-token")
			if _, err := p.Revalidate(ctx); !errors.Is(err, keys.ErrPermissionDenied) || !keys.Definite(err) {
				t.Fatalf("Revalidate with a revoked token: %v", err)
			}
			if len(p.cache) != 0 {
				t.Fatalf("%d unwrapped keys stay in the provider after a refusal", len(p.cache))
			}
		})
	}
}

// TestRevalidateTransitRefusals: OpenBao's 400 to a deleted transit key,
// or to a version below min_decryption_version, is keys.ErrRevoked.
func TestRevalidateTransitRefusals(t *testing.T) {
	for _, tg := range targets(t) {
		if tg.bao == nil {
			continue // the emulator has neither
		}
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			p := tg.provider(t)
			if _, err := p.Init(ctx, []string{"ssn"}); err != nil {
				t.Fatal(err)
			}
			tg.bao.RotateTransitKey(t, "phiguard")
			tg.bao.SetMinDecryptionVersion(t, "phiguard", 2)
			_, err := p.Revalidate(ctx)
			if !errors.Is(err, keys.ErrRevoked) || !keys.Definite(err) {
				t.Fatalf("min_decryption_version raised: %v", err)
			}
			if _, err := p.Load(ctx); err == nil {
				t.Fatal("Load served a key from the cache after the refusal")
			}
			tg.bao.SetMinDecryptionVersion(t, "phiguard", 1)
			if _, err := p.Revalidate(ctx); err != nil {
				t.Fatalf("after undoing it: %v", err)
			}
			tg.bao.DeleteTransitKey(t, "phiguard")
			if _, err := p.Revalidate(ctx); !errors.Is(err, keys.ErrRevoked) {
				t.Fatalf("transit key deleted: %v", err)
			}
		})
	}
}

// cached is how many unwrapped data keys the provider holds.
func cached(p *Provider) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.cache)
}

// TestRevalidateKeepsNoKeyWhileUnanswered: a recheck Vault does not answer
// (sealed here) empties the unwrap cache, so that when the offline grace
// runs out and the keys are withdrawn no unwrapped key stays in the
// provider either; the keyring in use is what serves during the grace.
// An answer fills it again.
func TestRevalidateKeepsNoKeyWhileUnanswered(t *testing.T) {
	tg, p := initialised(t)
	ctx := context.Background()
	if _, err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if cached(p) == 0 {
		t.Fatal("Load cached nothing")
	}
	tg.emu.Seal()
	_, err := p.Revalidate(ctx)
	checkErr(t, "Revalidate sealed", err, keys.ErrUnavailable)
	if n := cached(p); n != 0 {
		t.Errorf("%d unwrapped keys still cached after a recheck Vault did not answer", n)
	}
	tg.emu.Unseal()
	kr, err := p.Revalidate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.WriteVersion("ssn"); err != nil || cached(p) == 0 {
		t.Errorf("after the answer: %v, %d cached", err, cached(p))
	}
}

// TestForgetEmptiesTheCache: what serve calls when the keys are
// withdrawn after a recheck that succeeded (a key id the policy needs
// gone from KV): nothing unwrapped stays.
func TestForgetEmptiesTheCache(t *testing.T) {
	_, p := initialised(t)
	if _, err := p.Revalidate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cached(p) == 0 {
		t.Fatal("Revalidate cached nothing")
	}
	p.Forget()
	if n := cached(p); n != 0 {
		t.Errorf("%d unwrapped keys cached after Forget", n)
	}
}
