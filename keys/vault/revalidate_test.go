package vault

import (
	"context"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

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
