package guard

import (
	"sync"
	"sync/atomic"

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
	Policy *policy.Policy
	// Keyring is the keyring loaded at start. SwapKeys replaces it (the
	// kill switch, keys/keywatch: a re-validated keyring, or a withdrawn
	// one that holds no keys) and sets the field to nil, so that the
	// Protection keeps no reference to keys no longer in use.
	Keyring *keys.Keyring
	// Subjects seals the columns of tables with a subject column per
	// subject (crypto-shredding); nil refuses writes to them and reads of
	// their per-subject cells with 58000. SwapKeys replaces it like
	// Keyring.
	Subjects *keys.SubjectKeys
	// ShreddedMarker, when set, is what a text cell of a shredded subject
	// reads as instead of NULL.
	ShreddedMarker string

	current atomic.Pointer[policy.Policy]
	keys    atomic.Pointer[keySet]
	// startMu orders the first use of Keyring and Subjects with SwapKeys
	// clearing them.
	startMu sync.Mutex
}

// Current is the policy in force: the latest one Reload accepted, else
// Policy.
func (p *Protection) Current() *policy.Policy {
	if c := p.current.Load(); c != nil {
		return c
	}
	return p.Policy
}

// policy returns the loaded policy, or nil when the server only audits.
func (s *Session) policy() *policy.Policy {
	if s.srv.protect == nil {
		return nil
	}
	if p := s.acc.pol.Load(); p != nil {
		return p
	}
	return s.srv.protect.Current()
}
