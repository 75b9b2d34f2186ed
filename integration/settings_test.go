package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestUnsafeSettingsEndTheSession: a role without rules is not rewritten,
// so a SET of an encoding or standard_conforming_strings phiguard cannot
// parse under is caught by the backend's own report of it: the session
// ends with FATAL before another statement is read. Safe settings at login
// and later pass.
func TestUnsafeSettingsEndTheSession(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	for _, sql := range []string{
		"SET client_encoding = 'SJIS'",
		"SELECT set_config('standard_conforming_strings', 'off', false)",
		"SET NAMES 'BIG5'",
	} {
		conn := p.as(t, "admin_ann")
		_, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		if err == nil || !strings.Contains(err.Error(), "phiguard ends this session") {
			t.Errorf("%s: %v, want the session ended", sql, err)
		}
		if err := conn.Ping(ctx); err == nil {
			t.Errorf("%s: the session is still open", sql)
		}
	}
	// Safe values, at login and by SET, for a role with rules too.
	cfg, err := pgx.ParseConfig(p.url("dr_alice", accessPassword, accessDB))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["options"] = "-c statement_timeout=5s --application-name=ehr"
	cfg.RuntimeParams["client_encoding"] = "LATIN1"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("login with safe settings: %v", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{"SET client_encoding = 'UTF8'", "SET standard_conforming_strings = on", "SET statement_timeout = '10s'"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
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
