package guard

import (
	"fmt"
	"strings"
	"sync"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// The keys in use, and the kill switch from the proxy's side
// (docs/kill-switch.md, keys/keywatch). Every value sealed, opened,
// compared or pseudonymized takes the keys in use at that moment
// (Protection.keySet), so SwapKeys reaches a statement already running at
// its next value. What a session made under the keys before, and uses
// later, is checked at its use: a prepared statement's literals and a
// bound portal's parameters (sealedUnderWithdrawn, recheckKeys); a
// described result keeps no pseudonym keyer (session.pseudonym). Nothing
// here keeps a reference to keys no longer in use.

// keySet is the keys in use and what is derived from them. It is swapped
// whole, so that nothing derived from a withdrawn keyring (a pseudonym
// key, a subject key in SubjectKeys' cache) outlives it.
type keySet struct {
	kr         *keys.Keyring
	cipher     *cellcipher.Cipher
	pseudonyms sync.Map // key id → *keys.Pseudonymizer
	known      *knownKeys
}

// knownKeys is what is known of the keys in use without holding them: the
// key ids and their versions, whether subject keys were set up, and for
// each key id the generation (a count of the keys swapped in) at which its
// versions last changed. While the keys are withdrawn it is that of the
// last keys held: a policy reload is checked against those (a policy
// tightened during a withdrawal must not be refused for keys phiguard
// merely does not hold right now, or the wider policy before it comes back
// with the keys), and a statement prepared before a withdrawal goes on
// after the same keys came back. No key material: a prepared statement
// keeps the generation (stmtInfo.keysGen), not the keyring.
type knownKeys struct {
	gen        uint64
	versions   map[string]string // key id → its versions, "1,2"
	since      map[string]uint64 // key id → the gen its versions last changed
	perSubject bool
}

// knownOf is what is known of kr and subjects after prev (nil at start).
func knownOf(kr *keys.Keyring, subjects *keys.SubjectKeys, prev *knownKeys) *knownKeys {
	if prev != nil && kr.Withdrawal() != nil {
		return prev
	}
	k := &knownKeys{gen: 1, versions: map[string]string{}, since: map[string]uint64{}, perSubject: subjects != nil}
	if prev != nil {
		k.gen = prev.gen + 1
	}
	if kr == nil {
		return k
	}
	for _, st := range kr.Status() {
		var b strings.Builder
		for _, v := range st.Versions {
			fmt.Fprintf(&b, "%d,", v.Version)
		}
		k.versions[st.ID], k.since[st.ID] = b.String(), k.gen
		if prev != nil && prev.versions[st.ID] == b.String() {
			k.since[st.ID] = prev.since[st.ID]
		}
	}
	return k
}

// newKeySet is the key set of kr and subjects, after what was known
// before (nil at start).
func newKeySet(kr *keys.Keyring, subjects *keys.SubjectKeys, prev *knownKeys) *keySet {
	return &keySet{kr: kr, cipher: &cellcipher.Cipher{Keyring: kr, Subjects: subjects}, known: knownOf(kr, subjects, prev)}
}

// keySet is the keys in use: the last SwapKeys, else Keyring and
// Subjects.
func (p *Protection) keySet() *keySet {
	if ks := p.keys.Load(); ks != nil {
		return ks
	}
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if ks := p.keys.Load(); ks != nil {
		return ks
	}
	ks := newKeySet(p.Keyring, p.Subjects, nil)
	p.keys.Store(ks)
	return ks
}

// SwapKeys puts kr and subjects in use for every value sealed, opened,
// compared or pseudonymized from now on. A withdrawn keyring
// (keys.Withdrawn) comes with nil subjects: every protected value then
// fails with 58000 naming its key id. The keys replaced, and what was
// derived from them, are no longer referenced.
func (p *Protection) SwapKeys(kr *keys.Keyring, subjects *keys.SubjectKeys) {
	p.startMu.Lock()
	defer p.startMu.Unlock()
	var known *knownKeys
	if prev := p.keys.Load(); prev != nil {
		known = prev.known
	} else {
		known = knownOf(p.Keyring, p.Subjects, nil)
	}
	p.Keyring, p.Subjects = nil, nil
	p.keys.Store(newKeySet(kr, subjects, known))
}

// keyring is the keyring in use.
func (p *Protection) keyring() *keys.Keyring { return p.keySet().kr }

// InForce is the keyring in force: the one SwapKeys last gave, else
// Keyring.
func (p *Protection) InForce() *keys.Keyring { return p.keyring() }

// subjects is the subject keys in use (nil without crypto-shredding, or
// while the keys are withdrawn).
func (p *Protection) subjects() *keys.SubjectKeys { return p.keySet().cipher.Subjects }

// pseudonymizer returns the pseudonym keyer of a key id, derived once
// per keyring in use.
func (p *Protection) pseudonymizer(keyID string) (*keys.Pseudonymizer, error) {
	ks := p.keySet()
	if v, ok := ks.pseudonyms.Load(keyID); ok {
		return v.(*keys.Pseudonymizer), nil
	}
	ps, err := ks.kr.Pseudonymizer(keyID)
	if err != nil {
		return nil, err
	}
	ks.pseudonyms.Store(keyID, ps)
	return ps, nil
}

// cipher is the column cipher over the keys in use (the backfill uses
// the same one, so cells written by either read through both).
func (p *Protection) cipher() *cellcipher.Cipher { return p.keySet().cipher }

// sealedUnderWithdrawn refuses, while the keys are withdrawn, a statement
// that carries cells sealed before: literals encrypted at its Parse,
// parameters at the Bind of a portal executed or FETCHed later. The
// database would compare or store those cells with phiguard no longer
// holding their key; the kill switch promises no statement starting after
// the withdrawal does. nil when the keys are held or plan seals nothing.
func (s *Session) sealedUnderWithdrawn(plan *sqlrewrite.Plan) *pgerr.Error {
	if s.srv.protect == nil || plan == nil || len(plan.Values) == 0 {
		return nil
	}
	kr := s.srv.protect.keyring()
	if kr.Withdrawal() == nil {
		return nil
	}
	col := plan.Values[0].Column
	_, err := kr.WriteVersion(col.Key)
	return keyError(col, err)
}

// recheckKeys refuses, at a Bind, a prepared statement whose Parse used a
// key the keys in use now hold in other versions (a rotation or
// retirement picked up while serving, keys/keywatch): its literals were
// sealed under the old write version (which `keys retire` may remove,
// leaving cells written now unreadable) and its compared parameters got
// equality candidates for the old live versions only (missing the rows of
// the others). A statement that only writes parameters is sealed at each
// Bind and goes on. Like a reload of the policy, the client prepares it
// again; pgx and most drivers do so at the error.
func (s *Session) recheckKeys(info *stmtInfo) *pgerr.Error {
	if info.keysGen == 0 {
		return nil
	}
	ks := s.srv.protect.keySet()
	if ks.kr.Withdrawal() != nil {
		return nil // sealedUnderWithdrawn answers
	}
	for _, v := range info.plan.Values {
		if keyedAtParse(v) && ks.known.since[v.Column.Key] > info.keysGen {
			s.log.Info("prepared statement refused at Bind: planned under older keys", zap.String("key_id", v.Column.Key))
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"prepared before phiguard's key %q for column %s was rotated or retired; prepare it again", v.Column.Key, v.Column.QualifiedName())
		}
	}
	return nil
}

// keyedAtParse says whether a planned value depends on the keys in use at
// its statement's Parse: a literal sealed there, or a compared parameter
// whose hidden equality candidates were counted there
// (protect_compare_param.go). A parameter written is sealed at each Bind
// under the keys in use then.
func keyedAtParse(v sqlrewrite.ValueSlot) bool {
	return v.Literal >= 0 || v.Use == sqlrewrite.UseCompare
}
