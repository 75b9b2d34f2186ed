package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/keys/local"
)

// demoFiles are what `phiguard demo` writes into its temporary directory:
// the same files an operator writes for `phiguard serve`, so the demo runs
// the real configuration, key and audit code paths, and the commands it
// prints (audit verify, keys status) work on them while it runs.
type demoFiles struct {
	Dir       string
	Config    string // phiguard.yml
	Policy    string // policy.yml, the embedded demo policy
	Keyring   string // keyring.json, created by `phiguard keys init`
	MasterKey string // master.key, mode 0600
	Audit     string // audit/, the file sink's directory
}

func newDemoFiles(dir string) demoFiles {
	return demoFiles{
		Dir:       dir,
		Config:    filepath.Join(dir, "phiguard.yml"),
		Policy:    filepath.Join(dir, "policy.yml"),
		Keyring:   filepath.Join(dir, "keyring.json"),
		MasterKey: filepath.Join(dir, "master.key"),
		Audit:     filepath.Join(dir, "audit"),
	}
}

// write writes the policy, a new random master key and the configuration
// of a phiguard on listen (admin on adminAddr) in front of backend.
func (f demoFiles) write(listen, adminAddr, backendHost string, backendPort int) error {
	if err := os.WriteFile(f.Policy, ehrdemo.DemoPolicy(), 0o644); err != nil {
		return err
	}
	mk, err := local.GenerateMasterKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.MasterKey, []byte(mk+"\n"), 0o600); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Written by phiguard demo for this run only; removed on exit.
listen: %q
admin: %q
backend: {host: %q, port: %d}
policy_file: %q
shutdown_timeout: 5s
keys:
  provider: local
  local: {file: %q, master_key_file: %q}
audit:
  sink: file
  dir: %q
`, listen, adminAddr, backendHost, backendPort, f.Policy, f.Keyring, f.MasterKey, f.Audit)
	return os.WriteFile(f.Config, b.Bytes(), 0o600)
}

// initKeys creates every key the configuration needs (the policy's column,
// pseudonym and subjects keys, the audit key) exactly as `phiguard keys
// init --config` does, and returns how many it created.
func (f demoFiles) initKeys() (int, error) {
	var out, errOut bytes.Buffer
	if code := keysInit([]string{"--config", f.Config}, &out, &errOut); code != 0 {
		return 0, fmt.Errorf("keys init: %s", bytes.TrimSpace(errOut.Bytes()))
	}
	return bytes.Count(out.Bytes(), []byte("created ")), nil
}
