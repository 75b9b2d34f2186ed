package vault

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiguard/phiguard/keys"
)

// Provider is a keys.Provider whose data keys are wrapped by a Vault
// transit key and stored in KV v2. It caches every data key it has
// unwrapped (by its wrapped form), so a reload unwraps only new versions.
type Provider struct {
	cfg      Config
	client   *vaultapi.Client
	requests *prometheus.CounterVec
	now      func() time.Time

	mu      sync.Mutex // serialises operations; guards the fields below
	renewAt time.Time  // AppRole: log in again after this
	cache   map[string]keys.Secret
}

var _ keys.Provider = (*Provider)(nil)

// New validates cfg (after applying defaults and environment variables)
// and returns a provider. It does not contact Vault; Load does.
func New(cfg Config) (*Provider, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client, err := cfg.newClient()
	if err != nil {
		return nil, err
	}
	counter, err := newRequestsCounter(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("vault: metrics: %w", err)
	}
	return &Provider{cfg: cfg, client: client, requests: counter, now: time.Now, cache: map[string]keys.Secret{}}, nil
}

func (p *Provider) count(op string) { p.requests.WithLabelValues(op).Inc() }

// Load lists the key ids, reads each one's record and unwraps the versions
// not unwrapped before: 1 + ids + new versions requests (plus an AppRole
// login when one is due), never more.
func (p *Provider) Load(ctx context.Context) (*keys.Keyring, error) {
	var dks []keys.DataKey
	err := p.eachRecord(ctx, func(id string, rec *record) error {
		for _, wv := range rec.Versions {
			k, err := p.unwrapCached(ctx, id, wv)
			if err != nil {
				return err
			}
			dks = append(dks, keys.DataKey{ID: id, Version: wv.Version, Created: wv.Created, Key: k})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys.NewKeyring(dks)
}

// eachRecord authenticates, lists the key ids and calls fn with each id's
// record (ids without one are skipped), holding the provider's lock.
func (p *Provider) eachRecord(ctx context.Context, fn func(id string, rec *record) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return err
	}
	ids, err := p.listIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rec, _, err := p.readRecord(ctx, id)
		if err != nil {
			return err
		}
		if rec == nil {
			continue
		}
		if err := fn(id, rec); err != nil {
			return err
		}
	}
	return nil
}

func cacheKey(id string, wv wrappedVersion) string {
	return id + "\x00" + strconv.FormatUint(uint64(wv.Version), 10) + "\x00" + wv.Wrapped
}

func (p *Provider) unwrapCached(ctx context.Context, id string, wv wrappedVersion) (keys.Secret, error) {
	ck := cacheKey(id, wv)
	if k, ok := p.cache[ck]; ok {
		return k, nil
	}
	k, err := p.unwrap(ctx, wv.Wrapped)
	if err != nil {
		return keys.Secret{}, err
	}
	p.cache[ck] = k
	return k, nil
}

// Init creates version 1 of each id that has no record yet. An id created
// meanwhile by another writer is left to it.
func (p *Provider) Init(ctx context.Context, ids []string) ([]string, error) {
	for _, id := range ids {
		if err := keys.ValidateKeyID(id); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return nil, err
	}
	var created []string
	for _, id := range ids {
		rec, cas, err := p.readRecord(ctx, id)
		if err != nil {
			return created, err
		}
		if rec != nil && len(rec.Versions) > 0 {
			continue
		}
		err = p.addVersion(ctx, id, &record{}, cas)
		if err != nil && isConflict(err) {
			continue
		}
		if err != nil {
			return created, err
		}
		created = append(created, id)
	}
	return created, nil
}

// Rotate adds version max+1 to keyID, with check-and-set so that two
// concurrent rotations cannot both win (the loser gets keys.ErrConflict).
func (p *Provider) Rotate(ctx context.Context, keyID string) (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.authenticate(ctx); err != nil {
		return 0, err
	}
	rec, cas, err := p.readRecord(ctx, keyID)
	if err != nil {
		return 0, err
	}
	if rec == nil || len(rec.Versions) == 0 {
		return 0, fmt.Errorf("%w: %q", keys.ErrUnknownKey, keyID)
	}
	if err := p.addVersion(ctx, keyID, rec, cas); err != nil {
		return 0, err
	}
	return rec.Versions[len(rec.Versions)-1].Version, nil
}

// addVersion generates a data key, wraps it, appends it to rec and writes
// rec with check-and-set cas. The new key is cached, so the next Load
// needs no unwrap for it.
func (p *Provider) addVersion(ctx context.Context, id string, rec *record, cas int) error {
	var top uint32
	for _, v := range rec.Versions {
		top = max(top, v.Version)
	}
	dk, err := keys.GenerateDataKey(id, top+1, p.now())
	if err != nil {
		return err
	}
	wrapped, err := p.wrap(ctx, dk.Key)
	if err != nil {
		return err
	}
	wv := wrappedVersion{Version: dk.Version, Created: dk.Created, Wrapped: wrapped}
	rec.Versions = append(rec.Versions, wv)
	if err := p.writeRecord(ctx, id, rec, cas); err != nil {
		return err
	}
	p.cache[cacheKey(id, wv)] = dk.Key
	return nil
}

// Status lists key ids and versions from KV without unwrapping anything.
func (p *Provider) Status(ctx context.Context) ([]keys.KeyStatus, error) {
	var out []keys.KeyStatus
	err := p.eachRecord(ctx, func(id string, rec *record) error {
		st := keys.KeyStatus{ID: id}
		for _, v := range rec.Versions {
			st.Versions = append(st.Versions, keys.VersionStatus{Version: v.Version, Created: v.Created})
			st.WriteVersion = max(st.WriteVersion, v.Version)
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Health asks Vault's unauthenticated sys/health whether it is up and
// unsealed, for a readiness probe. A sealed Vault is ErrSealed.
func (p *Provider) Health(ctx context.Context) error {
	p.count(opHealth)
	h, err := p.client.Sys().HealthWithContext(ctx)
	if err != nil {
		return classify("health", "sys/health", err)
	}
	if h.Sealed {
		return &Error{Op: "health", Path: "sys/health", kinds: []error{ErrSealed, keys.ErrUnavailable}}
	}
	return nil
}

// String names the Vault address and paths, never a token.
func (p *Provider) String() string {
	return fmt.Sprintf("vault %s (transit %s/keys/%s, kv %s/data/%s)", p.cfg.Address, p.cfg.TransitMount, p.cfg.TransitKey, p.cfg.KVMount, p.cfg.KVPrefix)
}
