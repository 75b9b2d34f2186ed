package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// Provider is a keys.Provider backed by one sealed keyring file.
type Provider struct {
	path  string
	now   func() time.Time
	mu    sync.Mutex // serialises this process's writers
	packs packStore  // subject keys packed many to a file (pack_store.go)

	masterMu sync.Mutex  // guards master: Forget may clear it while serving
	master   keys.Secret // empty once forgotten
}

var _ keys.Provider = (*Provider)(nil)

// New returns a provider for the keyring file at path, sealed under
// master (MasterKeySize bytes). The file need not exist until Init.
func New(path string, master keys.Secret) (*Provider, error) {
	if path == "" {
		return nil, errors.New("local: keyring file path is empty")
	}
	if master.Len() != MasterKeySize {
		return nil, fmt.Errorf("%w: want %d bytes, got %d", ErrMasterKey, MasterKeySize, master.Len())
	}
	return &Provider{path: path, master: master, now: time.Now}, nil
}

// Forget drops the master key: the provider then stores and reads subject
// keys as before, but no longer opens or writes the keyring file. Serve
// calls it when the kill switch withdraws the keys (a removed master key
// file), so that the key that opens every other one does not stay in
// memory; a recheck reads the master key file afresh with a new Provider.
func (p *Provider) Forget() {
	p.masterMu.Lock()
	p.master = keys.Secret{}
	p.masterMu.Unlock()
}

func (p *Provider) masterKey() keys.Secret {
	p.masterMu.Lock()
	defer p.masterMu.Unlock()
	return p.master
}

// read returns the file's raw bytes (nil if it does not exist) and its keys.
func (p *Provider) read() ([]byte, []keys.DataKey, error) {
	raw, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("local: %w", err)
	}
	dks, err := unseal(p.masterKey(), p.path, raw)
	return raw, dks, err
}

// Load reads the keyring file. If it does not exist the error wraps
// fs.ErrNotExist and says to run `phiguard keys init`.
func (p *Provider) Load(ctx context.Context) (*keys.Keyring, error) {
	raw, dks, err := p.read()
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("local: keyring file %s: %w (run `phiguard keys init`)", p.path, fs.ErrNotExist)
	}
	return keys.NewKeyring(dks)
}

// Init adds version 1 of every id not yet in the file, creating the file
// if needed.
func (p *Provider) Init(ctx context.Context, ids []string) ([]string, error) {
	for _, id := range ids {
		if err := keys.ValidateKeyID(id); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	raw, dks, err := p.read()
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool)
	for _, dk := range dks {
		have[dk.ID] = true
	}
	var created []string
	for _, id := range ids {
		if have[id] {
			continue
		}
		dk, err := keys.GenerateDataKey(id, 1, p.now())
		if err != nil {
			return nil, err
		}
		dks = append(dks, dk)
		have[id] = true
		created = append(created, id)
	}
	if raw != nil && len(created) == 0 {
		return nil, nil
	}
	if err := p.write(dks, raw); err != nil {
		return nil, err
	}
	return created, nil
}

// Rotate adds version max+1 to keyID.
func (p *Provider) Rotate(ctx context.Context, keyID string) (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	raw, dks, err := p.read()
	if err != nil {
		return 0, err
	}
	var top uint32
	for _, dk := range dks {
		if dk.ID == keyID {
			top = max(top, dk.Version)
		}
	}
	if top == 0 {
		return 0, fmt.Errorf("%w: %q", keys.ErrUnknownKey, keyID)
	}
	dk, err := keys.GenerateDataKey(keyID, top+1, p.now())
	if err != nil {
		return 0, err
	}
	if err := p.write(append(dks, dk), raw); err != nil {
		return 0, err
	}
	return top + 1, nil
}

// Status lists the file's key ids and versions.
func (p *Provider) Status(ctx context.Context) ([]keys.KeyStatus, error) {
	kr, err := p.Load(ctx)
	if err != nil {
		return nil, err
	}
	return kr.Status(), nil
}

func (p *Provider) write(dks []keys.DataKey, expect []byte) error {
	if _, err := keys.NewKeyring(dks); err != nil { // validate before persisting
		return err
	}
	data, err := seal(p.masterKey(), dks)
	if err != nil {
		return err
	}
	return writeAtomic(p.path, data, expect)
}

// String names the file, never the master key.
func (p *Provider) String() string { return "local keyring " + p.path }
