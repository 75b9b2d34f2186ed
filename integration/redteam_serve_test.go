package integration

import (
	"os"
	"testing"
	"time"
)

// TestRedTeamServe keeps the access fixture and a phiguard up for manual
// probing (psql). Run only with REDTEAM_SERVE=1.
func TestRedTeamServe(t *testing.T) {
	if os.Getenv("REDTEAM_SERVE") == "" {
		t.Skip("REDTEAM_SERVE not set")
	}
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	os.WriteFile("/tmp/rt/urls", []byte("proxy="+p.url("USER", accessPassword, accessDB)+"\ndirect="+directURL(pg.Superuser, pg.Password, accessDB)+"\nhidden="+fx.hidden+"\naliceonly="+fx.aliceOnly+"\n"), 0o600)
	time.Sleep(90 * time.Minute)
}
