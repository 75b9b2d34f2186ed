package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/keys"
)

const recordFormat = "phiguard-data-key-v1"

// record is the KV v2 secret stored for one key id: every version's data
// key, wrapped by the transit KEK. Nothing in it is usable without Vault's
// transit key.
type record struct {
	Format   string           `json:"format"`
	Versions []wrappedVersion `json:"versions"`
}

type wrappedVersion struct {
	Version uint32    `json:"version"`
	Created time.Time `json:"created"`
	Wrapped string    `json:"wrapped"` // transit ciphertext, "vault:vN:..."
}

func (p *Provider) dataPath(id string) string {
	return p.cfg.KVMount + "/data/" + p.cfg.KVPrefix + "/" + id
}

// listIDs lists the key ids stored under the prefix.
func (p *Provider) listIDs(ctx context.Context) ([]string, error) {
	path := p.cfg.KVMount + "/metadata/" + p.cfg.KVPrefix
	p.count(opKVList)
	s, err := p.client.Logical().ListWithContext(ctx, path)
	if err != nil {
		return nil, classify("kv list", path, err)
	}
	if s == nil || s.Data["keys"] == nil { // 404: nothing stored yet
		return nil, nil
	}
	raw, ok := s.Data["keys"].([]any)
	if !ok {
		return nil, &Error{Op: "kv list", Path: path, Detail: "unexpected answer"}
	}
	var ids []string
	for _, k := range raw {
		id, _ := k.(string)
		if keys.ValidateKeyID(id) == nil { // skips "sub/" folders and foreign names
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// readRecord returns a key id's record (nil if absent) and the KV version
// to pass as check-and-set on the next write (0 if absent).
func (p *Provider) readRecord(ctx context.Context, id string) (*record, int, error) {
	path := p.dataPath(id)
	rec, version, err := readKV[record](ctx, p, path)
	if err != nil || rec == nil {
		return nil, version, err
	}
	if rec.Format != recordFormat {
		return nil, 0, fmt.Errorf("vault: %s holds %q, not a phiguard data key record", path, rec.Format)
	}
	return rec, version, nil
}

// writeRecord stores rec with check-and-set cas: 0 creates, n replaces
// KV version n. A mismatch is keys.ErrConflict.
func (p *Provider) writeRecord(ctx context.Context, id string, rec *record, cas int) error {
	rec.Format = recordFormat
	return p.writeKV(ctx, p.dataPath(id), rec, cas)
}

// readKV reads a KV v2 secret's data as T (nil if absent) and its
// version; a deleted latest version is absent, but check-and-set still
// needs its number.
func readKV[T any](ctx context.Context, p *Provider, path string) (*T, int, error) {
	p.count(opKVRead)
	s, err := p.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, 0, classify("kv read", path, err)
	}
	if s == nil {
		return nil, 0, nil
	}
	var body struct {
		Data     *T `json:"data"`
		Metadata struct {
			Version int `json:"version"`
		} `json:"metadata"`
	}
	if err := remarshal(s.Data, &body); err != nil {
		return nil, 0, &Error{Op: "kv read", Path: path, Detail: "unexpected answer: " + err.Error()}
	}
	return body.Data, body.Metadata.Version, nil
}

// writeKV writes v as a KV v2 secret's data with check-and-set cas.
func (p *Provider) writeKV(ctx context.Context, path string, v any, cas int) error {
	var data map[string]any
	if err := remarshal(v, &data); err != nil {
		return err
	}
	p.count(opKVWrite)
	_, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{
		"data":    data,
		"options": map[string]any{"cas": cas},
	})
	return classify("kv write", path, err)
}

func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
