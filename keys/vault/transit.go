package vault

import (
	"context"
	"encoding/base64"

	"github.com/phiguard/phiguard/keys"
)

// wrap encrypts a data key with the transit KEK; the KEK never leaves Vault.
func (p *Provider) wrap(ctx context.Context, dk keys.Secret) (string, error) {
	path := p.cfg.TransitMount + "/encrypt/" + p.cfg.TransitKey
	b := dk.Expose()
	pt := base64.StdEncoding.EncodeToString(b)
	clear(b)
	p.count(opTransitEncrypt)
	s, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{"plaintext": pt})
	if err != nil {
		return "", classify("transit encrypt", path, err)
	}
	ct, _ := s.Data["ciphertext"].(string)
	if ct == "" {
		return "", &Error{Op: "transit encrypt", Path: path, Detail: "no ciphertext in the answer"}
	}
	return ct, nil
}

// unwrap decrypts a wrapped data key with the transit KEK.
func (p *Provider) unwrap(ctx context.Context, wrapped string) (keys.Secret, error) {
	path := p.cfg.TransitMount + "/decrypt/" + p.cfg.TransitKey
	p.count(opTransitDecrypt)
	s, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{"ciphertext": wrapped})
	if err != nil {
		return keys.Secret{}, classify("transit decrypt", path, err)
	}
	pt, _ := s.Data["plaintext"].(string)
	b, err := base64.StdEncoding.DecodeString(pt)
	if err != nil || len(b) != keys.DataKeySize {
		clear(b)
		return keys.Secret{}, &Error{Op: "transit decrypt", Path: path, Detail: "the answer is not a data key"}
	}
	defer clear(b)
	return keys.NewSecret(b), nil
}

// EnsureTransitKey creates the KEK (aes256-gcm96) if it does not exist, as
// `vault write -f transit/keys/phiguard` does. Production tokens usually
// lack this right; an operator runs the setup commands instead.
func (p *Provider) EnsureTransitKey(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return err
	}
	path := p.cfg.TransitMount + "/keys/" + p.cfg.TransitKey
	p.count(opTransitCreate)
	_, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{"type": "aes256-gcm96"})
	return classify("transit create key", path, err)
}
