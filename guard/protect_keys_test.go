package guard

import (
	"errors"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/phiguard/phiguard/keys"
)

// TestKillSwitchSwapKeysDropsTheStartKeys: once SwapKeys put a withdrawn
// keyring in, the keyring and subject keys loaded at start are no longer
// reachable from the Protection (docs/kill-switch.md: phiguard keeps no
// reference to them), so the garbage collector frees them.
func TestKillSwitchSwapKeysDropsTheStartKeys(t *testing.T) {
	dk, err := keys.GenerateDataKey("k", 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keys.NewKeyring([]keys.DataKey{dk})
	if err != nil {
		t.Fatal(err)
	}
	p := &Protection{Keyring: kr}
	if _, err := p.keyring().WriteVersion("k"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pseudonymizer("k"); err != nil {
		t.Fatal(err)
	}
	start := weak.Make(kr)
	kr = nil
	p.SwapKeys(keys.Withdrawn(errors.New("revoked by the test")), nil)
	runtime.GC()
	runtime.GC()
	if start.Value() != nil {
		t.Error("the keyring loaded at start is still reachable after the keys were withdrawn")
	}
	if _, err := p.keyring().WriteVersion("k"); !errors.Is(err, keys.ErrWithdrawn) {
		t.Errorf("after the withdrawal: %v", err)
	}
	runtime.KeepAlive(p)
}
