package keys

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of SubjectKeysOptions.
const (
	DefaultSubjectCacheTTL     = time.Minute
	DefaultSubjectCacheEntries = 100000
)

// SubjectKeysOptions configure SubjectKeys.
type SubjectKeysOptions struct {
	// TTL bounds how long a subject key (or the fact that it was
	// shredded) is used from memory before the store is asked again. It is
	// also how long a proxy may go on using a key after `phiguard shred`
	// destroyed it in the store. Default DefaultSubjectCacheTTL.
	TTL time.Duration
	// MaxEntries bounds the cache; beyond it the older half is dropped.
	// Default DefaultSubjectCacheEntries.
	MaxEntries int
	Now        func() time.Time // for tests
}

// SubjectKeys seals and opens cells under per-subject keys. It creates a
// subject's key on first write (idempotently, through the store's
// create-if-absent), keeps keys in a bounded, time-limited cache, and
// shreds them. Safe for concurrent use.
//
// Only randomized cells are sealed per subject: a deterministic cell must
// be the same for the same value across rows, whichever subject owns
// them, or equality search breaks (docs/design/crypto-shredding.md).
type SubjectKeys struct {
	kr     *Keyring
	store  SubjectStore
	tagKey []byte
	o      SubjectKeysOptions
	wraps  wrapCiphers
	macs   sync.Pool // of *tagScratch: HMAC-SHA256 under tagKey, for Tag and SealedFor

	mu       sync.Mutex
	cur, old map[string]*subjectEntry
}

type subjectEntry struct {
	v        *version // nil when shredded
	shredded bool
	expires  time.Time
}

// NewSubjectKeys returns a SubjectKeys over the keyring's subjects key and
// store. The keyring must hold SubjectKeyID version 1.
func NewSubjectKeys(kr *Keyring, store SubjectStore, o SubjectKeysOptions) (*SubjectKeys, error) {
	if store == nil {
		return nil, errors.New("keys: crypto-shredding needs a key provider that stores subject keys")
	}
	k, err := subjectTagKey(kr)
	if err != nil {
		return nil, err
	}
	if o.TTL <= 0 {
		o.TTL = DefaultSubjectCacheTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultSubjectCacheEntries
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &SubjectKeys{kr: kr, store: store, tagKey: k, o: o, cur: map[string]*subjectEntry{}}, nil
}

// Tag returns the subject's tag (see SubjectTag). The HMAC is reused
// from a pool: setting one up costs as much as the tag itself, and the
// backfill computes a tag for every row.
func (s *SubjectKeys) Tag(subject string) string {
	t := s.scratch()
	defer s.macs.Put(t)
	t.mac.Write([]byte(CanonicalSubject(subject)))
	return hex.EncodeToString(t.mac.Sum(t.sum[:0])[:tagLen])
}

// Encrypt seals plaintext for col under the subject's key, creating the
// key if the subject has none. The cell names the key by the subject's
// tag. Errors: ErrShredded (the subject was shredded: write refused),
// ErrUnavailable and the store's other errors.
func (s *SubjectKeys) Encrypt(ctx context.Context, subject string, col Column, plaintext []byte) ([]byte, error) {
	if err := col.validate(); err != nil {
		return nil, err
	}
	e, err := s.entry(ctx, s.Tag(subject), true)
	if err != nil {
		return nil, err
	}
	if e.shredded {
		return nil, ErrShredded
	}
	return seal(e.v, Randomized, col, plaintext)
}

// Decrypt opens a subject cell read from col. ErrShredded when its
// subject's key was destroyed; ErrNoSubjectKey when the store has no
// record of it (a database restored in front of another key store).
func (s *SubjectKeys) Decrypt(ctx context.Context, col Column, cellText []byte) ([]byte, error) {
	c, err := parseCell(cellText)
	if err != nil {
		return nil, err
	}
	tag, ok := SubjectTagOf(string(c.keyID))
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a subject key", ErrUnknownKey, c.keyID)
	}
	e, err := s.entry(ctx, tag, false)
	if err != nil {
		return nil, err
	}
	if e.shredded {
		return nil, ErrShredded
	}
	pt, err := e.v.open(c.mode, associatedData(c.header, col), c.body)
	if err != nil {
		return nil, fmt.Errorf("%w: column %s, subject key %s", err, col, tag)
	}
	return pt, nil
}

// Shred destroys the subject's key in the store and forgets it here. Other
// processes forget it within their TTL.
func (s *SubjectKeys) Shred(ctx context.Context, subject string) (string, ShredOutcome, error) {
	tag := s.Tag(subject)
	out, err := s.store.ShredSubjectKey(ctx, tag)
	s.mu.Lock()
	delete(s.cur, tag)
	delete(s.old, tag)
	s.mu.Unlock()
	return tag, out, err
}

// entry returns the cached key of tag, or loads it; with create, a
// subject without a key gets one.
func (s *SubjectKeys) entry(ctx context.Context, tag string, create bool) (*subjectEntry, error) {
	now := s.o.Now()
	s.mu.Lock()
	e := s.cur[tag]
	if e == nil {
		e = s.old[tag]
	}
	s.mu.Unlock()
	if e != nil && now.Before(e.expires) {
		return e, nil
	}
	e, err := s.load(ctx, tag, create)
	if err != nil {
		return nil, err
	}
	e.expires = now.Add(s.o.TTL)
	s.mu.Lock()
	s.put(tag, e)
	s.mu.Unlock()
	return e, nil
}

// put caches e under tag; s.mu is held.
func (s *SubjectKeys) put(tag string, e *subjectEntry) {
	if len(s.cur) >= s.o.MaxEntries/2 {
		s.old, s.cur = s.cur, make(map[string]*subjectEntry, len(s.cur))
	}
	s.cur[tag] = e
}

// load reads tag's key from the store. With create, a missing key is
// generated and stored with create-if-absent; if another writer (another
// proxy) got there first, its key is read back and used, so every writer
// of one subject ends up with the same key.
func (s *SubjectKeys) load(ctx context.Context, tag string, create bool) (*subjectEntry, error) {
	for attempt := 0; attempt < 3; attempt++ {
		wrapped, err := s.store.GetSubjectKey(ctx, tag)
		switch {
		case errors.Is(err, ErrShredded):
			return &subjectEntry{shredded: true}, nil
		case errors.Is(err, ErrNoSubjectKey) && create:
			wrapped, err = s.create(ctx, tag)
			if errors.Is(err, ErrConflict) {
				continue // someone else created it (or shredded it): read theirs
			}
		}
		if err != nil {
			return nil, err
		}
		key, err := unwrapSubjectKey(s.kr, &s.wraps, tag, wrapped)
		if err != nil {
			return nil, err
		}
		v, err := newRandomizedVersion(DataKey{ID: SubjectKeyIDOf(tag), Version: 1, Key: NewSecret(key)})
		clear(key)
		if err != nil {
			return nil, err
		}
		return &subjectEntry{v: v}, nil
	}
	return nil, fmt.Errorf("%w: subject key %s changed under three attempts to create it", ErrConflict, tag)
}

func (s *SubjectKeys) create(ctx context.Context, tag string) ([]byte, error) {
	dk, err := GenerateDataKey(SubjectKeyIDOf(tag), 1, s.o.Now())
	if err != nil {
		return nil, err
	}
	key := dk.Key.Expose()
	defer clear(key)
	wrapped, err := wrapSubjectKey(s.kr, &s.wraps, tag, key)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateSubjectKey(ctx, tag, wrapped); err != nil {
		return nil, err
	}
	return wrapped, nil
}

// SubjectStoreOf returns the provider's subject key store, if it has one
// (keys/local and keys/vault do).
func SubjectStoreOf(p Provider) (SubjectStore, bool) {
	s, ok := p.(SubjectStore)
	return s, ok
}

// SubjectBatchCreator is a SubjectStore that can create many subject keys
// at once more cheaply than one by one (keys/local: one file system sync
// for the batch instead of several per key). Like CreateSubjectKey it
// creates a tag's key only if nothing is stored for it; the tags it did
// not create for that reason are returned in conflicts, and the caller
// reads what is there.
type SubjectBatchCreator interface {
	CreateSubjectKeys(ctx context.Context, wrapped map[string][]byte) (conflicts []string, err error)
}

// Prepare loads into the cache the keys of the given subjects that are not
// there yet, creating the missing ones, so that a caller about to seal
// many subjects' cells in one go — the backfill, one patient per row —
// does not wait for the store once per new subject in turn. Reads run up
// to parallel at once (1 if parallel < 1); missing keys are created in one
// call when the store is a SubjectBatchCreator, else in parallel too. A
// shredded subject is cached as shredded (Encrypt then refuses it); the
// first other error is returned. Subjects are given by id, as to Encrypt.
func (s *SubjectKeys) Prepare(ctx context.Context, subjects []string, parallel int) error {
	now := s.o.Now()
	seen := make(map[string]bool, len(subjects))
	var todo []string
	for _, id := range subjects {
		tag := s.Tag(id)
		if seen[tag] {
			continue
		}
		seen[tag] = true
		s.mu.Lock()
		e := s.cur[tag]
		if e == nil {
			e = s.old[tag]
		}
		s.mu.Unlock()
		if e == nil || !now.Before(e.expires) {
			todo = append(todo, tag)
		}
	}
	bc, batch := s.store.(SubjectBatchCreator)
	var mu sync.Mutex
	var missing []string
	err := s.each(ctx, todo, parallel, func(tag string) error {
		_, err := s.entry(ctx, tag, !batch)
		if batch && errors.Is(err, ErrNoSubjectKey) {
			mu.Lock()
			missing = append(missing, tag)
			mu.Unlock()
			return nil
		}
		return err
	})
	if err != nil || len(missing) == 0 {
		return err
	}
	wrapped := make(map[string][]byte, len(missing))
	versions := make(map[string]*version, len(missing))
	for _, tag := range missing {
		dk, err := GenerateDataKey(SubjectKeyIDOf(tag), 1, now)
		if err != nil {
			return err
		}
		key := dk.Key.Expose()
		w, err := wrapSubjectKey(s.kr, &s.wraps, tag, key)
		clear(key)
		if err != nil {
			return err
		}
		v, err := newRandomizedVersion(dk)
		if err != nil {
			return err
		}
		wrapped[tag], versions[tag] = w, v
	}
	conflicts, err := bc.CreateSubjectKeys(ctx, wrapped)
	if err != nil {
		return err
	}
	lost := make(map[string]bool, len(conflicts))
	for _, tag := range conflicts {
		lost[tag] = true
	}
	s.mu.Lock()
	for tag, v := range versions {
		if !lost[tag] {
			s.put(tag, &subjectEntry{v: v, expires: now.Add(s.o.TTL)})
		}
	}
	s.mu.Unlock()
	// Someone else created (or shredded) these first: use what is there.
	return s.each(ctx, conflicts, parallel, func(tag string) error {
		_, err := s.entry(ctx, tag, true)
		return err
	})
}

// each runs f for every tag, up to parallel at once, and returns the
// first error.
func (s *SubjectKeys) each(ctx context.Context, tags []string, parallel int, f func(string) error) error {
	var (
		wg    sync.WaitGroup
		first error
		once  sync.Once
		next  = make(chan string)
	)
	for w := 0; w < min(max(parallel, 1), len(tags)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tag := range next {
				if err := f(tag); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for _, tag := range tags {
		if ctx.Err() != nil {
			break
		}
		next <- tag
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
