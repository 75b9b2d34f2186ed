package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/integration/vaultemu"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
)

// The key ids examples/policy.yml names.
// exampleKeyIDs are the key ids examples/policy.yml names, plus the audit
// chain's key, which keys init creates whenever serve will audit.
var exampleKeyIDs = []string{"audit", "patients-drivers", "patients-passport", "patients-pii", "patients-ssn", "subjects"}

func runKeysArgs(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = dispatch(append([]string{"keys"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeKeysConfig writes a configuration naming the example policy and the
// given keys: section (indented YAML below "keys:").
func writeKeysConfig(t *testing.T, keysYAML string) string {
	t.Helper()
	pol, err := filepath.Abs("../../examples/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "phiguard.yml")
	if err := os.WriteFile(path, []byte("policy_file: "+pol+"\nkeys:\n"+keysYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// statusRows parses `keys status` table output into "id version [write]".
func statusRows(out string) map[string]bool {
	rows := map[string]bool{}
	re := regexp.MustCompile(`(?m)^(\S+)\s+(\d+)\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ(\s+write)?$`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		rows[m[1]+" v"+m[2]+strings.TrimSpace(m[3])] = true
	}
	return rows
}

func newMasterKey(t *testing.T) string {
	t.Helper()
	code, out, errOut := runKeysArgs("master-key")
	if code != 0 {
		t.Fatalf("master-key: exit %d: %s", code, errOut)
	}
	mk := strings.TrimSpace(out)
	if _, err := local.ParseMasterKey([]byte(mk)); err != nil {
		t.Fatalf("master-key printed %d bytes that do not parse: %v", len(mk), err)
	}
	if !strings.Contains(errOut, "PHIGUARD_MASTER_KEY") || strings.Contains(errOut, mk) {
		t.Errorf("master-key: the advice on stderr should name the variable and not repeat the key:\n%s", errOut)
	}
	return mk
}

func TestKeysLocalEndToEnd(t *testing.T) {
	mk := newMasterKey(t)
	t.Setenv("PHIGUARD_MASTER_KEY", mk)
	dir := t.TempDir()
	keyring := filepath.Join(dir, "keyring.json")
	cfg := writeKeysConfig(t, "  provider: local\n  local:\n    file: "+keyring+"\n")
	var all strings.Builder // every output, checked for secrets at the end
	run := func(args ...string) (int, string, string) {
		code, out, errOut := runKeysArgs(args...)
		all.WriteString(out + errOut)
		return code, out, errOut
	}

	// Before init: status fails and says what to run.
	if code, _, errOut := run("status", "--config", cfg); code != 1 || !strings.Contains(errOut, "run `phiguard keys init`") {
		t.Errorf("status before init: exit %d\n%s", code, errOut)
	}

	code, out, errOut := run("init", "--config", cfg)
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	for _, id := range exampleKeyIDs {
		if !strings.Contains(out, "created "+id+" version 1\n") {
			t.Errorf("init: output lacks %s:\n%s", id, out)
		}
	}
	if !strings.Contains(out, "6 created, 0 already present, in local keyring "+keyring) {
		t.Errorf("init: summary:\n%s", out)
	}

	code, out, errOut = run("status", "--config", cfg)
	rows := statusRows(out)
	if code != 0 || len(rows) != len(exampleKeyIDs) {
		t.Fatalf("status: exit %d, rows %v\n%s%s", code, rows, out, errOut)
	}
	for _, id := range exampleKeyIDs {
		if !rows[id+" v1write"] {
			t.Errorf("status: %s is not at version 1, written:\n%s", id, out)
		}
	}

	code, out, errOut = run("rotate", "--config", cfg, "--key", "patients-ssn")
	if code != 0 || !strings.Contains(out, "rotated patients-ssn: version 2 is the write version") {
		t.Fatalf("rotate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run("status", "--config", cfg)
	rows = statusRows(out)
	if code != 0 || !rows["patients-ssn v1"] || !rows["patients-ssn v2write"] || !rows["patients-pii v1write"] || len(rows) != 7 {
		t.Errorf("status after rotate: exit %d, rows %v\n%s", code, rows, out)
	}

	// JSON status, and init again creating only --key.
	code, out, _ = run("status", "--config", cfg, "--json")
	var st struct {
		Provider string           `json:"provider"`
		Keys     []keys.KeyStatus `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st.Keys) != 6 || st.Keys[4].ID != "patients-ssn" || st.Keys[4].WriteVersion != 2 {
		t.Errorf("status --json: exit %d, %v\n%s", code, err, out)
	}
	code, out, _ = run("init", "--config", cfg, "--key", "claims-ssn")
	if code != 0 || !strings.Contains(out, "created claims-ssn version 1") || !strings.Contains(out, "1 created, 6 already present") {
		t.Errorf("second init: exit %d\n%s", code, out)
	}

	// Unknown key, and a policy naming a key that does not exist.
	if code, _, errOut := run("rotate", "--config", cfg, "--key", "nope"); code != 1 || !strings.Contains(errOut, `unknown key: "nope"`) {
		t.Errorf("rotate unknown: exit %d\n%s", code, errOut)
	}
	pol := filepath.Join(dir, "policy.yml")
	os.WriteFile(pol, []byte("version: 1\ntables:\n  public.t:\n    columns:\n      c: {mode: randomized, key: not-yet, type: text}\n"), 0o600)
	code, out, errOut = run("status", "--config", cfg, "--policy", pol)
	if code != 1 || !strings.Contains(out, "not-yet") || !strings.Contains(errOut, "names 1 key id(s) that do not exist: not-yet") {
		t.Errorf("status with a missing key: exit %d\n%s%s", code, out, errOut)
	}

	// The wrong master key: exit 1, a clear message, no key shown.
	other := newMasterKey(t)
	t.Setenv("PHIGUARD_MASTER_KEY", other)
	for _, args := range [][]string{{"status"}, {"rotate", "--key", "patients-ssn"}, {"init"}} {
		code, _, errOut := run(append(args, "--config", cfg)...)
		if code != 1 || !strings.Contains(errOut, "master key does not open keyring file "+keyring+" (wrong master key, or the file was altered)") {
			t.Errorf("%s with the wrong master key: exit %d\n%s", args[0], code, errOut)
		}
	}
	t.Setenv("PHIGUARD_MASTER_KEY", "")
	if code, _, errOut := run("status", "--config", cfg); code != 1 || !strings.Contains(errOut, "keys.local.master_key_env: local: master key: environment variable PHIGUARD_MASTER_KEY is not set") {
		t.Errorf("no master key: exit %d\n%s", code, errOut)
	}

	for _, secret := range []string{mk, other} {
		if strings.Contains(all.String(), secret) {
			t.Error("a master key appears in the output")
		}
	}
}

func TestKeysUsage(t *testing.T) {
	cfg := writeKeysConfig(t, "  provider: local\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: phiguard keys"},
		{[]string{"frob"}, 2, `unknown command "frob"`},
		{[]string{"status"}, 2, "--config is required"},
		{[]string{"rotate", "--config", cfg}, 2, "--key is required"},
		{[]string{"rotate", "--config", cfg, "--key", "a b"}, 2, "only letters, digits"},
		{[]string{"init", "--config", cfg, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"status", "--config", cfg}, 1, "keys.local.file: is not set"},
	} {
		code, out, errOut := runKeysArgs(tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("keys %v: exit %d, want %d and %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

const emuToken = "emu-root-token-do-not-print"

func vaultKeysYAML(addr string) string {
	return "  provider: vault\n  vault:\n    address: " + addr + "\n    token_env: TEST_PHIGUARD_VAULT_TOKEN\n    timeout: 2s\n"
}

func TestKeysVaultEndToEnd(t *testing.T) {
	emu := vaultemu.New(vaultemu.Options{RootToken: emuToken})
	srv := emu.Start()
	defer srv.Close()
	t.Setenv("TEST_PHIGUARD_VAULT_TOKEN", emuToken)
	cfg := writeKeysConfig(t, vaultKeysYAML(srv.URL))
	var all strings.Builder
	run := func(args ...string) (int, string, string) {
		code, out, errOut := runKeysArgs(args...)
		all.WriteString(out + errOut)
		return code, out, errOut
	}

	code, out, errOut := run("init", "--config", cfg, "--create-transit-key")
	if code != 0 || !strings.Contains(out, "6 created, 0 already present, in vault "+srv.URL) {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	if emu.Requests()["transit/create"] != 1 {
		t.Errorf("--create-transit-key did not create the transit key: %v", emu.Requests())
	}

	before := emu.Requests()
	code, out, _ = run("status", "--config", cfg)
	rows := statusRows(out)
	if code != 0 || len(rows) != len(exampleKeyIDs) || !rows["patients-ssn v1write"] {
		t.Errorf("status: exit %d, rows %v\n%s", code, rows, out)
	}
	after := emu.Requests()
	if d := after["transit/decrypt"] - before["transit/decrypt"]; d != 0 {
		t.Errorf("status unwrapped %d keys; it should only list them", d)
	}
	if d := after["kv/read"] - before["kv/read"]; d != len(exampleKeyIDs) {
		t.Errorf("status read %d KV records, want one per key id (%d)", d, len(exampleKeyIDs))
	}

	code, out, errOut = run("rotate", "--config", cfg, "--key", "patients-pii")
	if code != 0 || !strings.Contains(out, "rotated patients-pii: version 2") {
		t.Fatalf("rotate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run("status", "--config", cfg)
	rows = statusRows(out)
	if code != 0 || !rows["patients-pii v1"] || !rows["patients-pii v2write"] || len(rows) != len(exampleKeyIDs)+1 {
		t.Errorf("status after rotate: exit %d, rows %v\n%s", code, rows, out)
	}

	// Sealed, then a token without the rights: exit 1, explained.
	emu.Seal()
	code, _, errOut = run("status", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "vault "+srv.URL) || !strings.Contains(errOut, "vault is sealed") || !strings.Contains(errOut, "unseal Vault") {
		t.Errorf("sealed: exit %d\n%s", code, errOut)
	}
	emu.Unseal()
	emu.AddToken("limited-token-do-not-print", time.Hour, "transit/*")
	t.Setenv("TEST_PHIGUARD_VAULT_TOKEN", "limited-token-do-not-print")
	code, _, errOut = run("rotate", "--config", cfg, "--key", "patients-ssn")
	if code != 1 || !strings.Contains(errOut, "permission denied (HTTP 403)") || !strings.Contains(errOut, "lacks a Vault policy") {
		t.Errorf("403: exit %d\n%s", code, errOut)
	}
	t.Setenv("TEST_PHIGUARD_VAULT_TOKEN", "")
	if code, _, errOut = run("status", "--config", cfg); code != 1 || !strings.Contains(errOut, "keys.vault.token_env: environment variable TEST_PHIGUARD_VAULT_TOKEN is not set") {
		t.Errorf("no token: exit %d\n%s", code, errOut)
	}

	for _, secret := range []string{emuToken, "limited-token-do-not-print"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("the token %q appears in the output", secret)
		}
	}
}

func TestKeysVaultUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	t.Setenv("TEST_PHIGUARD_VAULT_TOKEN", emuToken)
	cfg := writeKeysConfig(t, vaultKeysYAML(addr))
	for _, args := range [][]string{{"status"}, {"init"}, {"rotate", "--key", "patients-ssn"}} {
		code, out, errOut := runKeysArgs(append(args, "--config", cfg)...)
		if code != 1 || !strings.Contains(errOut, "vault "+addr) || !strings.Contains(errOut, "unreachable") || !strings.Contains(errOut, "is Vault running and reachable at that address?") {
			t.Errorf("%s, Vault unreachable: exit %d\n%s%s", args[0], code, out, errOut)
		}
		if strings.Contains(out+errOut, emuToken) {
			t.Errorf("%s: the token appears in the output", args[0])
		}
	}

	// Something answers at the address, but not Vault: its 404 is not
	// taken for "no keys yet".
	notVault := httptest.NewServer(http.NotFoundHandler())
	defer notVault.Close()
	cfg = writeKeysConfig(t, vaultKeysYAML(notVault.URL))
	code, out, errOut := runKeysArgs("status", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "vault "+notVault.URL) || !strings.Contains(errOut, "sys/health: not found (HTTP 404)") {
		t.Errorf("not Vault: exit %d\n%s%s", code, out, errOut)
	}
}
