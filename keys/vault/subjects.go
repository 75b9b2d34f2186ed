package vault

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// Subject keys are KV v2 secrets at <kv_prefix>/_subjects/<tag>, one per
// subject tag (never per subject id). "_subjects/" is a folder to the key
// id listing, which skips it. The data is
//
//	{"format": "phiguard-subject-key-v1", "wrapped": base64}   a key
//	{"format": "phiguard-subject-key-v1", "shredded": time}    a tombstone
//
// The wrapped key is sealed by phiguard's "subjects" data key (itself
// wrapped by transit), so reading a subject key costs one KV read and no
// transit call. Creation writes with check-and-set 0, which Vault accepts
// only when the path has no version yet: of two proxies creating one
// subject's key, one wins and the other reads the winner's key. A shred
// writes the tombstone as a new version (check-and-set on the version it
// read) and then destroys every earlier version's data for good
// (secret/destroy), so neither a KV rollback nor an undelete brings the
// key back. The token of `phiguard shred` needs "update" on
// secret/destroy/<kv_prefix>/_subjects/*; the proxies' token does not.

const subjectFormat = "phiguard-subject-key-v1"

var _ keys.SubjectStore = (*Provider)(nil)

func (p *Provider) subjectRel(tag string) (string, error) {
	if _, ok := keys.SubjectTagOf(keys.SubjectKeyIDOf(tag)); !ok {
		return "", fmt.Errorf("vault: %q is not a subject tag", tag)
	}
	return p.cfg.KVPrefix + "/_subjects/" + tag, nil
}

type subjectData struct {
	Format   string     `json:"format"`
	Wrapped  string     `json:"wrapped,omitempty"`
	Shredded *time.Time `json:"shredded,omitempty"`
}

// readSubject returns tag's data (nil if absent) and its KV version.
func (p *Provider) readSubject(ctx context.Context, rel string) (*subjectData, int, error) {
	path := p.cfg.KVMount + "/data/" + rel
	d, version, err := readKV[subjectData](ctx, p, path)
	if err != nil || d == nil {
		return nil, version, err
	}
	if d.Format != subjectFormat {
		return nil, 0, fmt.Errorf("vault: %s holds %q, not a phiguard subject key", path, d.Format)
	}
	return d, version, nil
}

func (p *Provider) writeSubject(ctx context.Context, rel string, d subjectData, cas int) error {
	d.Format = subjectFormat
	return p.writeKV(ctx, p.cfg.KVMount+"/data/"+rel, d, cas)
}

// GetSubjectKey implements keys.SubjectStore.
func (p *Provider) GetSubjectKey(ctx context.Context, tag string) ([]byte, error) {
	rel, err := p.subjectRel(tag)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return nil, err
	}
	d, _, err := p.readSubject(ctx, rel)
	switch {
	case err != nil:
		return nil, err
	case d == nil:
		return nil, fmt.Errorf("%w: %s", keys.ErrNoSubjectKey, tag)
	case d.Shredded != nil:
		return nil, keys.ErrShredded
	}
	b, err := base64.StdEncoding.DecodeString(d.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("vault: subject key %s: %v", tag, err)
	}
	return b, nil
}

// CreateSubjectKey implements keys.SubjectStore.
func (p *Provider) CreateSubjectKey(ctx context.Context, tag string, wrapped []byte) error {
	rel, err := p.subjectRel(tag)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return err
	}
	return p.writeSubject(ctx, rel, subjectData{Wrapped: base64.StdEncoding.EncodeToString(wrapped)}, 0)
}

// ShredSubjectKey implements keys.SubjectStore.
func (p *Provider) ShredSubjectKey(ctx context.Context, tag string) (keys.ShredOutcome, error) {
	rel, err := p.subjectRel(tag)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return 0, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		d, version, err := p.readSubject(ctx, rel)
		if err != nil {
			return 0, err
		}
		if d != nil && d.Shredded != nil {
			return keys.ShredAlready, nil
		}
		outcome := keys.ShredDestroyed
		if d == nil {
			outcome = keys.ShredNoKey
		}
		now := p.now().UTC()
		err = p.writeSubject(ctx, rel, subjectData{Shredded: &now}, version)
		if isConflict(err) {
			continue // a proxy created the key meanwhile: shred that one
		}
		if err != nil {
			return 0, err
		}
		if version > 0 {
			if err := p.destroyVersions(ctx, rel, version); err != nil {
				return 0, err
			}
		}
		return outcome, nil
	}
	return 0, fmt.Errorf("%w: subject key %s kept changing", keys.ErrConflict, tag)
}

// destroyVersions removes the data of versions 1..upTo for good.
func (p *Provider) destroyVersions(ctx context.Context, rel string, upTo int) error {
	path := p.cfg.KVMount + "/destroy/" + rel
	vs := make([]int, 0, upTo)
	for v := 1; v <= upTo; v++ {
		vs = append(vs, v)
	}
	p.count(opKVDestroy)
	_, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{"versions": vs})
	if err != nil {
		return fmt.Errorf("the tombstone is written but the old key versions are not destroyed (run shred again): %w",
			classify("kv destroy", path, err))
	}
	return nil
}
