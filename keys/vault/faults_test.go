package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// checkErr asserts err matches every want, and that its message holds no
// token or secret.
func checkErr(t *testing.T, what string, err error, want ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("%s: %v does not match %v", what, err, w)
		}
	}
	for _, secret := range []string{"emu-root-token", "limited-token", "the-secret-id"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows a secret: %v", what, err)
		}
	}
	var ve *Error
	if !errors.As(err, &ve) {
		t.Errorf("%s: not a *vault.Error: %T", what, err)
	}
}

func initialised(t *testing.T) (*target, *Provider) {
	tg := newEmulator(t)
	p := tg.provider(t)
	if _, err := p.Init(context.Background(), []string{"ssn"}); err != nil {
		t.Fatal(err)
	}
	return tg, p
}

func TestPermissionDenied(t *testing.T) {
	tg, _ := initialised(t)
	// A token that may read KV but not unwrap.
	tg.emu.AddToken("limited-token", 0, "secret/data/phiguard/keys/*", "secret/metadata/phiguard/keys")
	cfg := tg.cfg
	cfg.Token = keys.NewSecret([]byte("limited-token"))
	p, _ := New(cfg)
	_, err := p.Load(context.Background())
	checkErr(t, "Load", err, keys.ErrPermissionDenied)
	if errors.Is(err, keys.ErrUnavailable) {
		t.Error("403 must not look retryable")
	}
	if !strings.Contains(err.Error(), "transit decrypt") || !strings.Contains(err.Error(), "403") {
		t.Errorf("message does not say what was denied: %v", err)
	}

	cfg.Token = keys.NewSecret([]byte("no-such-token"))
	p, _ = New(cfg)
	_, err = p.Status(context.Background())
	checkErr(t, "unknown token", err, keys.ErrPermissionDenied)
}

func TestSealed(t *testing.T) {
	tg, p := initialised(t)
	tg.emu.Seal()
	_, err := p.Load(context.Background())
	checkErr(t, "Load", err, ErrSealed, keys.ErrUnavailable)
	checkErr(t, "Health", p.Health(context.Background()), ErrSealed, keys.ErrUnavailable)
	tg.emu.Unseal()
	if err := p.Health(context.Background()); err != nil {
		t.Errorf("Health unsealed: %v", err)
	}
	if _, err := p.Load(context.Background()); err != nil {
		t.Errorf("Load after unseal: %v", err)
	}
}

func TestServerErrors(t *testing.T) {
	for _, status := range []int{500, 502, 429} {
		tg, p := initialised(t)
		tg.emu.FailNext(1, status)
		_, err := p.Load(context.Background())
		checkErr(t, "Load", err, keys.ErrUnavailable)
		if errors.Is(err, ErrSealed) {
			t.Errorf("%d reported as sealed", status)
		}
		if _, err := p.Load(context.Background()); err != nil {
			t.Errorf("%d: next Load: %v", status, err)
		}
	}
}

func TestRetriesWhenConfigured(t *testing.T) {
	tg, _ := initialised(t)
	cfg := tg.cfg
	cfg.MaxRetries = 2
	cfg.Timeout = 10 * time.Second // Vault's client waits 1-1.5 s between tries
	p, _ := New(cfg)
	tg.emu.FailNext(2, 502)
	if _, err := p.Load(context.Background()); err != nil {
		t.Errorf("two 502s with two retries: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	tg, _ := initialised(t)
	cfg := tg.cfg
	cfg.Timeout = 100 * time.Millisecond
	p, _ := New(cfg)
	tg.emu.SetLatency(time.Second)
	start := time.Now()
	_, err := p.Load(context.Background())
	checkErr(t, "client timeout", err, ErrTimeout, keys.ErrUnavailable)
	if time.Since(start) > 900*time.Millisecond {
		t.Errorf("took %v", time.Since(start))
	}

	// A context deadline is the same error.
	cfg.Timeout = 5 * time.Second
	p, _ = New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Load(ctx)
	checkErr(t, "context deadline", err, ErrTimeout, keys.ErrUnavailable, context.DeadlineExceeded)
}

func TestUnreachable(t *testing.T) {
	tg := newEmulator(t)
	tg.srv.Close()
	p := tg.provider(t)
	_, err := p.Load(context.Background())
	checkErr(t, "closed server", err, keys.ErrUnavailable)
	if strings.Contains(err.Error(), "Get \"") {
		t.Errorf("message repeats the transport's URL wrapper: %v", err)
	}
}

func TestAppRole(t *testing.T) {
	tg, _ := initialised(t)
	now := time.Now()
	tg.emu.AddAppRole("phiguard", "role-1", "the-secret-id", time.Minute,
		"transit/decrypt/phiguard", "secret/data/phiguard/keys/*", "secret/metadata/phiguard/keys")
	cfg := tg.cfg
	cfg.Token = keys.Secret{}
	cfg.AppRole = &AppRole{RoleID: "role-1", SecretID: keys.NewSecret([]byte("the-secret-id"))}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return now }
	ctx := context.Background()
	kr, err := p.Load(ctx)
	if err != nil || len(kr.Status()) != 1 {
		t.Fatalf("Load with AppRole: %v, %v", kr, err)
	}
	if _, err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tg.emu.Requests()["approle/login"]; n != 1 {
		t.Errorf("%d logins for two loads within the lease", n)
	}
	now = now.Add(50 * time.Second) // past 80% of the 60 s lease
	if _, err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tg.emu.Requests()["approle/login"]; n != 2 {
		t.Errorf("%d logins after the lease was 80%% spent, want 2", n)
	}
	// The role may not write: Rotate is denied.
	_, err = p.Rotate(ctx, "ssn")
	checkErr(t, "Rotate with read-only role", err, keys.ErrPermissionDenied)

	cfg.AppRole = &AppRole{RoleID: "role-1", SecretID: keys.NewSecret([]byte("wrong-secret"))}
	p, _ = New(cfg)
	_, err = p.Load(ctx)
	checkErr(t, "bad secret id", err)
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("message shows the secret id: %v", err)
	}
}
