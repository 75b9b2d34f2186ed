package local

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/phiguard/phiguard/keys"
)

const (
	fileFormat  = "phiguard-keyring"
	fileVersion = 1
	sealAD      = "phiguard-keyring v1"
)

// envelope is the file on disk.
type envelope struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"sealed"`
}

// contents is the sealed plaintext.
type contents struct {
	Keys []storedKey `json:"keys"`
}

type storedKey struct {
	ID      string    `json:"id"`
	Version uint32    `json:"version"`
	Created time.Time `json:"created"`
	Key     []byte    `json:"key"`
}

func newAEAD(master keys.Secret) (cipher.AEAD, error) {
	k := master.Expose()
	defer clear(k)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMasterKey, err)
	}
	return cipher.NewGCM(block)
}

// seal returns the file bytes for dks.
func seal(master keys.Secret, dks []keys.DataKey) ([]byte, error) {
	c := contents{Keys: make([]storedKey, 0, len(dks))}
	for _, dk := range dks {
		c.Keys = append(c.Keys, storedKey{ID: dk.ID, Version: dk.Version, Created: dk.Created, Key: dk.Key.Expose()})
	}
	pt, err := json.Marshal(c)
	for _, k := range c.Keys {
		clear(k.Key)
	}
	defer clear(pt)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	env := envelope{Format: fileFormat, Version: fileVersion, Nonce: nonce, Sealed: aead.Seal(nil, nonce, pt, []byte(sealAD))}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// unseal parses and opens file bytes.
func unseal(master keys.Secret, path string, raw []byte) ([]keys.DataKey, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("local: keyring file %s: not a phiguard keyring: %v", path, err)
	}
	if env.Format != fileFormat || env.Version != fileVersion {
		return nil, fmt.Errorf("local: keyring file %s: format %q version %d, want %q version %d", path, env.Format, env.Version, fileFormat, fileVersion)
	}
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	if len(env.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("local: keyring file %s: bad nonce", path)
	}
	pt, err := aead.Open(nil, env.Nonce, env.Sealed, []byte(sealAD))
	if err != nil {
		return nil, fmt.Errorf("%w does not open keyring file %s (wrong master key, or the file was altered)", ErrMasterKey, path)
	}
	defer clear(pt)
	var c contents
	if err := json.Unmarshal(pt, &c); err != nil {
		return nil, fmt.Errorf("local: keyring file %s: sealed contents: %v", path, err)
	}
	dks := make([]keys.DataKey, 0, len(c.Keys))
	for _, k := range c.Keys {
		dks = append(dks, keys.DataKey{ID: k.ID, Version: k.Version, Created: k.Created, Key: keys.NewSecret(k.Key)})
		clear(k.Key)
	}
	return dks, nil
}

// writeAtomic replaces path with data, mode 0600, so that a reader sees
// either the old or the new file. If expect is not nil, the file must
// still hold expect (what the caller read) just before the rename.
func writeAtomic(path string, data, expect []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("local: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("local: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("local: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	cur, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("local: %w", err)
	}
	if !bytes.Equal(cur, expect) {
		return fmt.Errorf("%w: keyring file %s", keys.ErrConflict, path)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
