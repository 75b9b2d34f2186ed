package proxy

import (
	"sync"
	"sync/atomic"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// Protection is what phiguard needs to encrypt: the policy naming the
// protected columns and the keyring holding their keys. A Server without
// one forwards everything unchanged.
//
// This release wires the simple query protocol (Query messages and their
// results); see docs/design/encryption-path.md for the rest.
type Protection struct {
	// Policy is the policy loaded at start. Reload swaps in newer ones;
	// Current returns the one in force.
	Policy  *policy.Policy
	Keyring *keys.Keyring
	// Subjects seals the columns of tables with a subject column per
	// subject (crypto-shredding); nil refuses writes to them and reads of
	// their per-subject cells with 58000.
	Subjects *keys.SubjectKeys
	// ShreddedMarker, when set, is what a text cell of a shredded subject
	// reads as instead of NULL.
	ShreddedMarker string

	current    atomic.Pointer[policy.Policy]
	pseudonyms sync.Map // key id → *keys.Pseudonymizer
	cipherOnce sync.Once
	cellCipher *cellcipher.Cipher
}

// Current is the policy in force: the latest one Reload accepted, else
// Policy.
func (p *Protection) Current() *policy.Policy {
	if c := p.current.Load(); c != nil {
		return c
	}
	return p.Policy
}

// pseudonymizer returns the pseudonym keyer of a key id, derived once.
func (p *Protection) pseudonymizer(keyID string) (*keys.Pseudonymizer, error) {
	if v, ok := p.pseudonyms.Load(keyID); ok {
		return v.(*keys.Pseudonymizer), nil
	}
	ps, err := p.Keyring.Pseudonymizer(keyID)
	if err != nil {
		return nil, err
	}
	p.pseudonyms.Store(keyID, ps)
	return ps, nil
}

// Option configures a Server beyond its config file.
type Option func(*Server)

// WithProtection makes the server encrypt and decrypt per p.
func WithProtection(p *Protection) Option {
	return func(s *Server) { s.protect = p }
}

// cipher is the column cipher over the protection's keys (the backfill
// uses the same one, so cells written by either read through both).
func (p *Protection) cipher() *cellcipher.Cipher {
	p.cipherOnce.Do(func() { p.cellCipher = &cellcipher.Cipher{Keyring: p.Keyring, Subjects: p.Subjects} })
	return p.cellCipher
}

// policy returns the loaded policy, or nil when the server only audits.
func (s *session) policy() *policy.Policy {
	if s.srv.protect == nil {
		return nil
	}
	if p := s.acc.pol.Load(); p != nil {
		return p
	}
	return s.srv.protect.Current()
}
