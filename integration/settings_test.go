package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestUnsafeSettings: under a policy that encrypts columns, a SET or
// set_config of an encoding or standard_conforming_strings phiguard
// cannot parse under is refused (0A000) for every role and the session
// goes on; a role default that sets one is caught by the backend's report
// of it at login. Safe settings at login and later pass.
func TestUnsafeSettings(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	conn := p.as(t, "admin_ann")
	for _, sql := range []string{
		"SET client_encoding = 'SJIS'",
		"SELECT set_config('standard_conforming_strings', 'off', false)",
		"SET NAMES 'BIG5'",
		"SET standard_conforming_strings = off",
	} {
		_, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		checkCode(t, sql, err, "0A000")
		if err := conn.Ping(ctx); err != nil {
			t.Errorf("%s: the session did not survive: %v", sql, err)
		}
	}
	// The backstop: a role default phiguard cannot parse under, reported
	// by the backend at login.
	if err := pg.CreateUser(ctx, "scs_off", accessPassword, false); err != nil {
		t.Fatal(err)
	}
	if _, err := accessSuperuser(t).Exec(ctx, "ALTER ROLE scs_off SET standard_conforming_strings = off"); err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.Connect(ctx, p.url("scs_off", accessPassword, accessDB)); err == nil {
		c.Close(ctx)
		t.Error("a login whose role default turns standard_conforming_strings off was accepted")
	} else if !strings.Contains(err.Error(), "standard_conforming_strings") {
		t.Errorf("login with the role default: %v", err)
	}
	// Safe values, at login and by SET, for a role with rules too.
	cfg, err := pgx.ParseConfig(p.url("dr_alice", accessPassword, accessDB))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["options"] = "-c statement_timeout=5s --application-name=ehr"
	cfg.RuntimeParams["client_encoding"] = "LATIN1"
	alice, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("login with safe settings: %v", err)
	}
	defer alice.Close(ctx)
	for _, sql := range []string{"SET client_encoding = 'UTF8'", "SET standard_conforming_strings = on", "SET statement_timeout = '10s'"} {
		if _, err := alice.Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	// Unsafe values at login are refused before the backend is asked.
	for param, value := range map[string]string{"client_encoding": "SJIS", "options": "-c client_encoding=GBK"} {
		cfg, _ := pgx.ParseConfig(p.url("admin_ann", accessPassword, accessDB))
		cfg.RuntimeParams[param] = value
		if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
			c.Close(ctx)
			t.Errorf("login with %s=%s was accepted", param, value)
		}
	}
}
