package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

var col = keys.Column{Schema: "public", Table: "patients", Name: "ssn"}

func newProvider(t *testing.T) (*Provider, string, string) {
	t.Helper()
	mk, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_PHIGUARD_MASTER_KEY", mk)
	master, err := MasterKeyFromEnv("TEST_PHIGUARD_MASTER_KEY")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keyring.json")
	p, err := New(path, master)
	if err != nil {
		t.Fatal(err)
	}
	return p, path, mk
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	p, path, mk := newProvider(t)
	if _, err := p.Load(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load before Init: %v", err)
	}
	created, err := p.Init(ctx, []string{"ssn", "names"})
	if err != nil || len(created) != 2 {
		t.Fatalf("Init = %v, %v", created, err)
	}
	kr, err := p.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cell, err := kr.Encrypt("ssn", keys.Deterministic, col, []byte("999-12-3456"))
	if err != nil {
		t.Fatal(err)
	}

	// Init again: nothing new, file untouched.
	before, _ := os.ReadFile(path)
	if created, err := p.Init(ctx, []string{"ssn"}); err != nil || len(created) != 0 {
		t.Fatalf("second Init = %v, %v", created, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("idempotent Init rewrote the file")
	}

	v, err := p.Rotate(ctx, "ssn")
	if err != nil || v != 2 {
		t.Fatalf("Rotate = %d, %v", v, err)
	}
	if _, err := p.Rotate(ctx, "nope"); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("Rotate unknown: %v", err)
	}

	// A second provider (another process) reading the same file, with the
	// master key from a file this time.
	mkFile := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(mkFile, []byte(mk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	master, err := MasterKeyFromFile(mkFile)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := New(path, master)
	kr2, err := p2.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := kr2.Decrypt(col, cell); err != nil || string(pt) != "999-12-3456" {
		t.Errorf("old cell after rotate: %q, %v", pt, err)
	}
	if w, _ := kr2.WriteVersion("ssn"); w != 2 {
		t.Errorf("write version %d", w)
	}
	st, err := p2.Status(ctx)
	if err != nil || len(st) != 2 || st[1].ID != "ssn" || len(st[1].Versions) != 2 {
		t.Errorf("Status = %+v, %v", st, err)
	}
}

func TestFilePermissionsAndNoPlaintext(t *testing.T) {
	ctx := context.Background()
	p, path, _ := newProvider(t)
	if _, err := p.Init(ctx, []string{"patients.ssn"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Rotate(ctx, "patients.ssn"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("patients.ssn")) {
		t.Error("key id in the clear")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	p, path, _ := newProvider(t)
	if _, err := p.Init(ctx, []string{"ssn"}); err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateMasterKey()
	m, _ := ParseMasterKey([]byte(other))
	p2, _ := New(path, m)
	_, err := p2.Load(ctx)
	if !errors.Is(err, ErrMasterKey) {
		t.Fatalf("wrong master key: %v", err)
	}
	if strings.Contains(err.Error(), other) {
		t.Error("error shows the master key")
	}
	if _, err := p2.Rotate(ctx, "ssn"); !errors.Is(err, ErrMasterKey) {
		t.Errorf("Rotate with wrong key: %v", err)
	}

	// A flipped byte in the sealed part is the same error.
	raw, _ := os.ReadFile(path)
	i := bytes.Index(raw, []byte(`"sealed": "`)) + 12
	raw[i] ^= 'A' ^ 'B'
	if raw[i] == '"' {
		t.Skip("unlucky byte")
	}
	os.WriteFile(path, raw, 0o600)
	if _, err := p.Load(ctx); err == nil {
		t.Error("altered file loaded")
	}
}

func TestMasterKeyParsing(t *testing.T) {
	k := bytes.Repeat([]byte{0xfb}, 32) // encodes differently in std and url alphabets
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		s, err := ParseMasterKey([]byte("  " + enc.EncodeToString(k) + "\n"))
		if err != nil || !s.Equal(keys.NewSecret(k)) {
			t.Errorf("%v", err)
		}
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(k[:16]), base64.StdEncoding.EncodeToString(append(k, 1))} {
		if _, err := ParseMasterKey([]byte(bad)); !errors.Is(err, ErrMasterKey) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	t.Setenv("EMPTY_MASTER", "")
	if _, err := MasterKeyFromEnv("EMPTY_MASTER"); !errors.Is(err, ErrMasterKey) {
		t.Errorf("empty env: %v", err)
	}
	if _, err := MasterKeyFromFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrMasterKey) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := New("x", keys.NewSecret(k[:16])); !errors.Is(err, ErrMasterKey) {
		t.Errorf("short master: %v", err)
	}
}

func TestConcurrentWriterDetected(t *testing.T) {
	p, _, _ := newProvider(t)
	ctx := context.Background()
	if _, err := p.Init(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	raw, dks, err := p.read()
	if err != nil {
		t.Fatal(err)
	}
	// Someone else rotates between our read and our write.
	if _, err := p.Rotate(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := p.write(dks, raw); !errors.Is(err, keys.ErrConflict) {
		t.Errorf("stale write: %v", err)
	}
	if kr, _ := p.Load(ctx); kr.String() != "keys.Keyring{a:v1,v2}" {
		t.Errorf("after conflict: %v", kr)
	}
}

func TestNotAKeyringFile(t *testing.T) {
	p, path, _ := newProvider(t)
	os.WriteFile(path, []byte("hello"), 0o600)
	if _, err := p.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "not a phiguard keyring") {
		t.Errorf("Load = %v", err)
	}
}
